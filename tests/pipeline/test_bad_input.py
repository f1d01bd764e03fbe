"""Bad input gets one clear message, a non-zero exit, no traceback and no stage output."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitops_ml.cli import main
from gitops_ml.core.params import Params

from ..conftest import BIN, ROOT

Cli = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `gitops-ml ARGS` in-process; return the exit code and what it printed to stderr."""

    def invoke(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["gitops-ml", *args])
        with pytest.raises(SystemExit) as done:
            main()
        return int(done.value.code or 0), capsys.readouterr().err

    return invoke


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
    content = yaml.safe_load((ROOT / "params.yaml").read_text())
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
