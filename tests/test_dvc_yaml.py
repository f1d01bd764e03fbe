"""dvc.yaml lists, for each stage, exactly the params.yaml sections its code reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gitops_ml import cli, params

from .conftest import ROOT


class Recorder:
    """Stands in for Params and remembers which top-level sections were read."""

    def __init__(self, real: params.Params) -> None:
        self._real = real
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._real, name)


def _stage_params() -> dict[str, set[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: set(stage.get("params", [])) for name, stage in stages.items()}


def _stage_cmds() -> dict[str, list[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    raw = params.load_params(ROOT / "params.yaml").data.raw
    return {
        name: stage["cmd"].replace("${data.raw}", raw).split() for name, stage in stages.items()
    }


def test_every_stage_reads_exactly_its_listed_sections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw_frame: pd.DataFrame
) -> None:
    """Running each stage's real command records the sections it reads; they match dvc.yaml."""
    real = params.load_params(ROOT / "params.yaml")
    work = tmp_path / "work"
    (work / Path(real.data.raw).parent).mkdir(parents=True)
    sample, raw = raw_frame.head(400), work / real.data.raw
    sample.to_csv(raw, index=False) if raw.suffix == ".csv" else sample.to_parquet(raw, index=False)
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")

    read: dict[str, set[str]] = {}
    for stage, argv in _stage_cmds().items():
        recorder = Recorder(real)
        monkeypatch.setattr(params, "load_params", lambda _path, r=recorder: r)
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as done:
            cli.main()
        assert done.value.code == 0, f"stage {stage} failed"
        read[stage] = recorder.read

    assert read == _stage_params()
    assert read["prepare"] == {"seed", "data"}


def test_stage_commands_are_the_cli() -> None:
    """Every stage runs the project's own command, so CI and developers run the same code."""
    assert all(argv[0] == "gitops-ml" for argv in _stage_cmds().values())
