"""Bad input gets one clear message, a non-zero exit, no traceback and no stage output."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitops_ml.core.params import Params

from ..conftest import BIN, ROOT
from .conftest import Cli


@pytest.fixture
def sample(raw_frame: pd.DataFrame) -> pd.DataFrame:
    """The first 300 rows of the project's data: enough for a stratified split."""
    return raw_frame.head(300).copy()


@dataclass(frozen=True)
class Names:
    """What the refusals below are about, in the project's data (the example: churn, tenure)."""

    target: str
    labels: list[str]  # the target's values, sorted
    number: str  # the first numeric feature


@pytest.fixture
def names(params: Params, sample: pd.DataFrame) -> Names:
    """The target, its labels and a numeric feature of the project's data."""
    target = params.data.target
    features = sample.drop(columns=[target, params.data.id_column or target])
    number = features.select_dtypes("number").columns[0]
    return Names(target, sorted(sample[target].astype(str).unique()), str(number))


def _params(tmp_path: Path, raw: Path, **data: object) -> Path:
    """The project's params.yaml reading `raw`, with `data` overrides. A test that names another
    id column leaves the project's own id out (data.drop_columns): prepare would refuse it."""
    content = yaml.safe_load((ROOT / "params.yaml").read_text())
    own_id = content["data"].get("id_column")
    if "id_column" in data and own_id and own_id != data["id_column"]:
        dropped = [*content["data"].get("drop_columns", []), own_id]
        content["data"]["drop_columns"] = dropped
    content["data"].update({"raw": str(raw), **data})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def _prepare(cli: Cli, tmp_path: Path, raw: Path, **data: object) -> tuple[int, str, Path]:
    out = tmp_path / "prepared"
    params = _params(tmp_path, raw, **data)
    code, err = cli("prepare", "--raw", str(raw), "--out", str(out), "--params", str(params))
    return code, err, out


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "raw.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _assert_refused(code: int, err: str, out: Path, *fragments: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not out.exists(), "a failed prepare must not write any output"


def test_good_sample_prepares(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """The sample itself is accepted, so every refusal below is caused by its one defect."""
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    assert (code, err) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == ["schema.json", "test.parquet", "train.parquet"]


def test_missing_target_column(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A file without the target column is refused, naming the column."""
    raw = _csv(tmp_path, sample.drop(columns=names.target))
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, str(raw), f"['{names.target}']", "not in the file")


def test_target_with_a_third_label(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A third target value is refused with its line and value."""
    sample[names.target] = sample[names.target].astype(object)
    sample.loc[4, names.target] = "Maybe"
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    where = f"column '{names.target}' at line 6"
    _assert_refused(code, err, out, where, "'Maybe'", "expected only")


def test_positive_label_absent(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A positive label that never occurs is refused, listing the values present."""
    raw = _csv(tmp_path, sample)
    code, err, out = _prepare(cli, tmp_path, raw, positive_label="Absent")
    _assert_refused(code, err, out, "positive label 'Absent' does not occur", str(names.labels))


def test_text_in_numeric_column(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A word in a numeric column is refused with its column, line and value."""
    sample[names.number] = sample[names.number].astype(str)
    sample.loc[10, names.number] = "twelve"
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    where = f"column '{names.number}' at line 12"
    _assert_refused(code, err, out, where, "expected numbers", "'twelve'")


def test_empty_file(cli: Cli, tmp_path: Path) -> None:
    """A zero-byte file is refused as empty."""
    raw = tmp_path / "raw.csv"
    raw.write_bytes(b"")
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, str(raw), "the file is empty")


def test_header_only(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """A header without rows is refused."""
    raw = _csv(tmp_path, sample.head(0))
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, str(raw), "header but no data rows")


def test_all_missing_feature(cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names) -> None:
    """A feature with no values at all is refused by name."""
    sample[names.number] = ""
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    _assert_refused(code, err, out, f"column '{names.number}'", "values missing")


def test_duplicate_column_names(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """Two columns with one name are refused, naming it."""
    raw = tmp_path / "raw.csv"
    header = ",".join([*sample.columns[:-1], names.number])
    body = sample.to_csv(index=False, header=False)
    raw.write_text(header + "\n" + body)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, f"duplicate column names ['{names.number}']")


def test_wrong_delimiter(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """A semicolon-separated file is recognised as such."""
    raw = tmp_path / "raw.csv"
    sample.to_csv(raw, index=False, sep=";")
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, "split by semicolons", "expected a comma-separated file")


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("raw.csv", b"\xff\xfe\x00\x81binary\x00\x9f", "CSV"),
        ("raw.parquet", b"PAR1nope", "Parquet"),
    ],
)
def test_unreadable_file(cli: Cli, tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    """Bytes that are not a table in the named format are refused, naming the format."""
    raw = tmp_path / name
    raw.write_bytes(content)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, str(raw), f"cannot be read as {kind}")


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    """A raw path that does not exist is refused."""
    raw = tmp_path / "nowhere.csv"
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, f"{raw}: file not found")


def test_unknown_params_key(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """An unknown key in params.yaml is refused with its full path."""
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample), test_fraction=0.3)
    _assert_refused(
        code, err, out, "params.yaml: invalid parameters", "data.test_fraction: unknown key"
    )


def test_wrong_params_type(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """A params value of the wrong type is refused with the key and the value."""
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample), test_size="a fifth")
    _assert_refused(code, err, out, "data.test_size", "valid number", "'a fifth'")


def test_real_process_exit_code_and_no_traceback(
    tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """The installed command exits 1 with the message alone on stderr."""
    raw = _csv(tmp_path, sample.drop(columns=names.target))
    params = _params(tmp_path, raw)
    done = subprocess.run(
        [BIN / "gitops-ml", "prepare", "--raw", raw, "--out", tmp_path / "o", "--params", params],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {raw}: column(s) ['{names.target}']")
    assert not (tmp_path / "o").exists()


# --- values, params and columns a model cannot use (each refusal names what to change) ------


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e400"])
def test_infinite_number(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names, value: str
) -> None:
    """An infinite value, or a number beyond a float's range, is refused with column and line."""
    sample[names.number] = sample[names.number].astype(object)
    sample.loc[7, names.number] = value
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    where = f"column '{names.number}' at line 9"
    _assert_refused(code, err, out, where, "expected finite numbers")


def test_params_that_are_not_utf8(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """A params file with a byte that is not UTF-8 is refused naming its line; `--help` in a
    project whose params.yaml is broken so still answers."""
    raw = _csv(tmp_path, sample)
    params = _params(tmp_path, raw)
    params.write_bytes(params.read_bytes() + b"# caf\xe9\n")
    out = tmp_path / "prepared"
    code, err = cli("prepare", "--raw", str(raw), "--out", str(out), "--params", str(params))
    lines = params.read_bytes().count(b"\n")
    _assert_refused(code, err, out, f"line {lines}: byte 0xe9 is not UTF-8")
    done = subprocess.run(
        [BIN / "gitops-ml", "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout


@pytest.mark.parametrize("test_size", [0.0001, 0.9999])
def test_test_size_too_small_or_too_large(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, test_size: float
) -> None:
    """A test_size leaving a split without one row per class is refused with the range that
    works, not a scikit-learn traceback."""
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample), test_size=test_size)
    where = f"data.test_size {test_size}: of 300 rows"
    _assert_refused(code, err, out, where, "choose a test_size")


def test_id_column_that_is_the_target_or_a_feature(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """An id column that is the target, or also listed as a feature, is refused by params."""
    raw = _csv(tmp_path, sample)
    code, err, out = _prepare(cli, tmp_path, raw, id_column=names.target)
    _assert_refused(code, err, out, f"data: id_column '{names.target}' is the target")
    code, err, out = _prepare(
        cli, tmp_path, raw, id_column=names.number, numeric_features=[names.number]
    )
    _assert_refused(code, err, out, f"id_column '{names.number}' is also listed as a feature")


def test_duplicate_ids(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """Ids that repeat are refused, naming the values and their lines."""
    sample.insert(0, "row_id", [f"R{i}" for i in range(len(sample))])
    sample.loc[10, "row_id"] = "R3"
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample), id_column="row_id")
    _assert_refused(code, err, out, "column 'row_id' (data.id_column)", "['R3'] at line 5, line 12")


def test_empty_header_name(cli: Cli, tmp_path: Path, sample: pd.DataFrame) -> None:
    """A column without a name in the header is refused with its position."""
    raw = tmp_path / "raw.csv"
    header, body = sample.to_csv(index=False).split("\n", 1)
    names = header.split(",")
    names[3] = "  "
    raw.write_text(",".join(names) + "\n" + body)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, "column(s) [4] of the header (counting from 1) have no name")


def test_a_date_column_is_refused_until_dropped(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame
) -> None:
    """A column of dates (text or a Parquet timestamp) is refused, suggesting drop_columns;
    listed there, the data prepares without it."""
    sample["signup"] = pd.date_range("2021-03-01", periods=len(sample), freq="D").astype(str)
    raw = _csv(tmp_path, sample)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, "column(s) ['signup'] hold dates or times", "data.drop_columns")
    stamped = sample.assign(signup=pd.to_datetime(sample["signup"]))
    parquet = tmp_path / "raw.parquet"
    stamped.to_parquet(parquet, index=False)
    code, err, out = _prepare(cli, tmp_path, parquet)
    _assert_refused(code, err, out, "column(s) ['signup'] hold dates or times")
    code, err, out = _prepare(cli, tmp_path, raw, drop_columns=["signup"])
    assert (code, err) == (0, "")
    assert "signup" not in (out / "schema.json").read_text()


def test_a_free_text_column_is_refused_unless_dropped_or_the_id(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame
) -> None:
    """A text column whose values nearly all differ is refused, suggesting drop_columns or
    id_column; as either it is accepted, and never a feature."""
    sample["note"] = [f"called on day {i}, asked about the bill" for i in range(len(sample))]
    raw = _csv(tmp_path, sample)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(
        code, err, out, "column(s) ['note'] look like free text", "data.drop_columns", "id_column"
    )
    for fix in ({"drop_columns": ["note"]}, {"id_column": "note"}):
        code, err, out = _prepare(cli, tmp_path, raw, **fix)
        assert (code, err) == (0, ""), fix
        schema = json.loads((out / "schema.json").read_text())
        assert "note" not in schema["numeric"] + schema["categorical"]


def test_drop_columns_must_exist_and_must_not_be_used(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """data.drop_columns naming an absent column, or the target, is refused."""
    raw = _csv(tmp_path, sample)
    code, err, out = _prepare(cli, tmp_path, raw, drop_columns=["no_such_column"])
    _assert_refused(code, err, out, "data.drop_columns names ['no_such_column']")
    code, err, out = _prepare(cli, tmp_path, raw, drop_columns=[names.target])
    _assert_refused(code, err, out, f"drop_columns also names ['{names.target}']")


def test_spaces_around_header_names_are_stripped_with_a_warning(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A header name with spaces around it is used without them, and a warning names it."""
    raw = tmp_path / "raw.csv"
    header, body = sample.to_csv(index=False).split("\n", 1)
    raw.write_text(header.replace(names.number, f"{names.number}  ") + "\n" + body)
    code, err, out = _prepare(cli, tmp_path, raw)
    assert code == 0, err
    assert err.startswith("warning: ")
    assert f"spaces around column name(s) ['{names.number}  '] removed" in err
    assert names.number in json.loads((out / "schema.json").read_text())["numeric"]


def test_names_with_inner_spaces_and_other_scripts_work(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names, params: Params
) -> None:
    """Column names with inner spaces and non-ASCII letters are features like any other."""
    used = {names.target, names.number, params.data.id_column}
    last_feature = [column for column in sample.columns if column not in used][-1]
    renamed = {names.number: "Kunden Dauer", last_feature: "größe_€"}
    raw = _csv(tmp_path, sample.rename(columns=renamed))
    code, err, out = _prepare(cli, tmp_path, raw)
    assert (code, err) == (0, "")
    schema = json.loads((out / "schema.json").read_text(encoding="utf-8"))
    assert {"Kunden Dauer", "größe_€"} <= set(schema["numeric"] + schema["categorical"])


def test_line_number_after_a_quoted_line_break(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, names: Names
) -> None:
    """A quoted value spanning two lines moves every later row down a line: the error names
    the line the bad row is really on."""
    sample["note"] = "called"
    sample.loc[1, "note"] = "called twice:\nmonday and tuesday"
    sample[names.number] = sample[names.number].astype(object)
    sample.loc[5, names.number] = "twelve"
    code, err, out = _prepare(cli, tmp_path, _csv(tmp_path, sample))
    _assert_refused(code, err, out, f"column '{names.number}' at line 8", "'twelve'")


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("list", [[1, 2]] * 300),
        ("struct", [{"a": 1}] * 300),
        ("bytes", [b"\x00\x01"] * 300),
    ],
)
def test_a_nested_parquet_column_is_refused_unless_dropped(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame, kind: str, values: list[object]
) -> None:
    """A Parquet column of lists, structs or bytes is refused by name; dropped, it is gone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(sample, preserve_index=False).append_column(
        "extra", pa.array(values)
    )
    raw = tmp_path / "raw.parquet"
    pq.write_table(table, raw)
    code, err, out = _prepare(cli, tmp_path, raw)
    _assert_refused(code, err, out, "column(s) 'extra'", "hold lists, structs or bytes")
    code, err, out = _prepare(cli, tmp_path, raw, drop_columns=["extra"])
    assert (code, err) == (0, ""), kind


def test_a_parquet_decimal_column_is_a_number(
    cli: Cli, tmp_path: Path, sample: pd.DataFrame
) -> None:
    """Decimal values (as databases export money) are read as numbers."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    amounts = pa.array([decimal.Decimal(i) / 4 for i in range(len(sample))], pa.decimal128(10, 2))
    table = pa.Table.from_pandas(sample, preserve_index=False).append_column("amount", amounts)
    raw = tmp_path / "raw.parquet"
    pq.write_table(table, raw)
    code, err, out = _prepare(cli, tmp_path, raw)
    assert (code, err) == (0, "")
    assert "amount" in json.loads((out / "schema.json").read_text())["numeric"]
