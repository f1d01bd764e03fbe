"""Batch scoring refuses bad input with one message, exit 1, no traceback, no output written.

Each case runs `gitops-ml predict` as a user does, in-process through the CLI's entry point (a
killed run, as a real process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gitops_ml.cli import main
from gitops_ml.infra import files

from ..conftest import BIN, ROOT
from ..support.serving import ID, Trained

Predict = Callable[..., tuple[int, str]]


@pytest.fixture
def predict(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Predict:
    """Run `gitops-ml predict` with the session's model; return (exit code, stderr)."""

    def invoke(source: Path, dest: Path, *extra: str, model: str | None = None) -> tuple[int, str]:
        args = ["predict", "--input", str(source), "--output", str(dest), "--no-progress"]
        args += ["--model", model or str(trained.model_path)]
        args += ["--schema", str(trained.schema_path), "--params", str(ROOT / "params.yaml")]
        monkeypatch.setattr(sys, "argv", ["gitops-ml", *args, *extra])
        with pytest.raises(SystemExit) as done:
            main()
        return int(done.value.code or 0), capsys.readouterr().err

    return invoke


def _records(trained: Trained, rows: int = 20) -> pd.DataFrame:
    return trained.test[[ID, *trained.schema.features]].head(rows).reset_index(drop=True)


def _refused(code: int, err: str, *fragments: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_with_a_header_and_no_rows(
    predict: Predict, trained: Trained, tmp_path: Path, suffix: str
) -> None:
    """A header without rows is refused as such (it used to reach the model as zero rows)."""
    source = tmp_path / f"in{suffix}"
    empty = _records(trained).head(0)
    empty.to_csv(source, index=False) if suffix == ".csv" else empty.to_parquet(source)
    code, err = predict(source, tmp_path / "out.csv")
    _refused(code, err, f"{source}: the file has a header but no data rows")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("kind", "array"),
    [
        ("list<", lambda n: pa.array([[1.0, 2.0]] * n)),
        ("timestamp", lambda n: pa.array(pd.date_range("2024-01-01", periods=n))),
    ],
)
def test_a_parquet_feature_of_lists_or_dates(
    predict: Predict, trained: Trained, tmp_path: Path, kind: str, array: Callable[[int], object]
) -> None:
    """A feature column of lists or timestamps is refused by name before anything is scored."""
    frame = _records(trained)
    number = trained.schema.numeric[0]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(table.schema.get_field_index(number), number, array(len(frame)))
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    code, err = predict(source, tmp_path / "out.csv")
    _refused(code, err, f"column(s) '{number}' ({kind}", "expected numbers or text")
    assert not (tmp_path / "out.csv").exists()


def test_an_output_that_is_a_directory_is_refused_before_loading_anything(
    predict: Predict, trained: Trained, tmp_path: Path
) -> None:
    """An output path that is a directory is refused first: even a model that does not exist
    is not looked at, let alone every row scored."""
    source = tmp_path / "in.csv"
    _records(trained).to_csv(source, index=False)
    (tmp_path / "scores.csv").mkdir()
    code, err = predict(source, tmp_path / "scores.csv", model=str(tmp_path / "none.skops"))
    _refused(code, err, "--output", "scores.csv: is a directory")


def test_an_output_that_is_the_input_is_refused(
    predict: Predict, trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output naming the input file (by any path) is refused and the input kept as it was."""
    source = tmp_path / "batch.csv"
    _records(trained).to_csv(source, index=False)
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    code, err = predict(source, Path("./batch.csv"))
    _refused(code, err, "is the input file")
    assert source.read_bytes() == before


def test_duplicate_columns_are_refused(predict: Predict, trained: Trained, tmp_path: Path) -> None:
    """Two columns of one name are refused (which one the model should read cannot be told)."""
    frame = _records(trained)
    number = trained.schema.numeric[0]
    source = tmp_path / "in.csv"
    header, body = frame.to_csv(index=False).split("\n", 1)
    rows = "\n".join(f"{line},0" for line in body.strip().split("\n"))
    source.write_text(f"{header},{number}\n{rows}\n")
    code, err = predict(source, tmp_path / "out.csv")
    _refused(code, err, f"duplicate column names ['{number}']")
    assert not (tmp_path / "out.csv").exists()


def test_an_id_column_asked_for_and_absent_is_refused(
    predict: Predict, trained: Trained, tmp_path: Path
) -> None:
    """--id-column naming a column the file does not have is refused, listing the columns."""
    source = tmp_path / "in.csv"
    _records(trained).to_csv(source, index=False)
    code, err = predict(source, tmp_path / "out.csv", "--id-column", "account")
    _refused(code, err, "no column 'account' (--id-column)", f"'{ID}'")
    assert not (tmp_path / "out.csv").exists()


def test_a_killed_run_leaves_no_file_beside_the_output(
    trained: Trained, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """`predict` killed (SIGKILL) after writing its first scores leaves neither a partial
    output nor a hidden temporary file, and a previous output as it was."""
    source = tmp_path / "in.csv"
    _records(trained, rows=200).to_csv(source, index=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    previous = out_dir / "scores.parquet"
    previous.write_bytes(b"yesterday's scores")
    cmd = [str(BIN / "gitops-ml"), "predict", "--input", str(source), "--output", str(previous)]
    cmd += ["--model", str(trained.model_path), "--schema", str(trained.schema_path)]
    cmd += ["--chunk-rows", "50", "--no-progress", "--params", str(ROOT / "params.yaml")]
    env = {**tool_env, "GITOPS_ML_FAILPOINT": "predict-chunk"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == -9, done.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["scores.parquet"]
    assert previous.read_bytes() == b"yesterday's scores"


def test_without_unnamed_files_a_dead_writer_s_temporary_file_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where files cannot be created without a name, the temporary file a killed writer of this
    host left is removed by the next write to the same output; a live writer's is kept."""
    monkeypatch.setattr(files, "_unnamed_file", lambda _: None)
    dest = tmp_path / "scores.csv"
    host = socket.gethostname()
    stale = tmp_path / f".scores.csv.{host}-{_dead_pid()}-abc.csv"
    live = tmp_path / f".scores.csv.{host}-{os.getpid()}-def.csv"
    stale.write_text("partial")
    live.write_text("in progress")
    files.write_text(dest, "scores\n")
    assert dest.read_text() == "scores\n"
    assert not stale.exists()
    assert live.exists()


def _dead_pid() -> int:
    """The process id of a process that has exited (and not been reused since)."""
    while True:
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return proc.pid
