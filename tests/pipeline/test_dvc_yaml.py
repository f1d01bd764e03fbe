"""dvc.yaml lists, for each stage, exactly the params.yaml sections and the code it reads."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gitops_ml import cli
from gitops_ml.core import params

from ..conftest import ROOT


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


def _commands(stage: dict[str, Any]) -> list[str]:
    """A stage's commands: its `cmd`, one string or a list DVC runs in turn."""
    cmd = stage["cmd"]
    return [cmd] if isinstance(cmd, str) else list(cmd)


def _stage_cmds() -> dict[str, list[list[str]]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    raw = params.load_params(ROOT / "params.yaml").data.raw
    return {
        name: [cmd.replace("${data.raw}", raw).split() for cmd in _commands(stage)]
        for name, stage in stages.items()
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
    for stage, commands in _stage_cmds().items():
        recorder = Recorder(real)  # one for the stage: the sections all its commands read
        monkeypatch.setattr(params, "load_params", lambda _path, r=recorder: r)
        for argv in commands:
            monkeypatch.setattr(sys, "argv", argv)
            with pytest.raises(SystemExit) as done:
                cli.main()
            assert done.value.code == 0, f"stage {stage}: {argv[1]} failed"
        read[stage] = recorder.read

    assert read == _stage_params()
    assert read["prepare"] == {"seed", "data"}


def test_stage_commands_are_the_cli() -> None:
    """Every stage runs the project's own command, so CI and developers run the same code."""
    commands = [argv for stage in _stage_cmds().values() for argv in stage]
    assert all(argv[0] == "gitops-ml" for argv in commands)
    assert [argv[1] for argv in _stage_cmds()["evaluate"]] == ["evaluate", "plot", "track"]


SRC = ROOT / "src"
PACKAGE = SRC / "gitops_ml"


def _module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The package's modules that a file imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gitops_ml")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gitops_ml"):
            module = str(node.module)
            found.add(module)
            found |= {
                f"{module}.{a.name}" for a in node.names if _module_file(f"{module}.{a.name}")
            }
    return found


def _code_of(module: str) -> set[str]:
    """Files of every module `module` imports, directly or not, but package __init__ files."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (path := _module_file(name)) is None:
            continue
        seen.add(name)
        todo += _imports(path)
    files = {_module_file(name) for name in seen}
    return {
        f.relative_to(ROOT).as_posix() for f in files if f is not None and f.name != "__init__.py"
    }


def _stages_with_code() -> dict[str, tuple[list[str], set[str]]]:
    """Stages of dvc.yaml and its commented-out tune stage: the `gitops-ml` command each of
    its commands runs, and its deps under src/."""
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    stages = yaml.safe_load(text)["stages"]
    # The optional tune stage is shipped commented out: read it as it is when switched on.
    tune = [line[4:] for line in text.splitlines() if line.startswith("  #   ")]
    stages.update(yaml.safe_load("\n".join(["tune:", *tune])))
    return {
        name: (
            [cmd.split()[1] for cmd in _commands(stage)],
            {d for d in stage.get("deps", []) if str(d).startswith("src/")},
        )
        for name, stage in stages.items()
    }


def test_every_stage_depends_on_exactly_the_code_it_runs() -> None:
    """A stage's deps name its own module and every module of the package it imports, so a
    change to shared code (the metrics core, say) re-runs the stages that run it, and no other."""
    stages = _stages_with_code()
    assert {"prepare", "train", "evaluate", "tune"} <= set(stages)
    for name, (commands, deps) in stages.items():
        # A stage's code is the pipeline module of each of its commands.
        runs: set[str] = set()
        for command in commands:
            assert (PACKAGE / "pipeline" / f"{command}.py").is_file(), f"{command}: no module"
            runs |= _code_of(f"gitops_ml.pipeline.{command}")
        assert deps == runs, f"stage {name}: add {sorted(runs - deps)}, drop {sorted(deps - runs)}"


def test_package_init_files_hold_no_code() -> None:
    """Subpackage __init__ files are a docstring only: importing an area runs nothing."""
    for init in PACKAGE.rglob("__init__.py"):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        docstring = body[:1] if body and isinstance(body[0], ast.Expr) else []
        rest = body[len(docstring) :]
        if init.parent == PACKAGE:  # the package itself also names its version
            rest = [
                n
                for n in rest
                if not (isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__version__")
            ]
        assert docstring, f"{init.relative_to(ROOT)} has no docstring"
        assert not rest, f"{init.relative_to(ROOT)} holds code"


def test_the_committed_lock_records_the_code_as_it_is() -> None:
    """Every code file a stage depends on has the hash dvc.lock records for it: a change to the
    pipeline's code without `dvc repro` (and committing dvc.lock) fails here, in the quick tier,
    and not only when a clean clone reproduces the whole pipeline."""
    import hashlib

    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    checked = 0
    for name, stage in lock.items():
        for dep in stage.get("deps", []):
            if not str(dep["path"]).startswith("src/"):
                continue
            recorded = dep["md5"]
            actual = hashlib.md5((ROOT / dep["path"]).read_bytes()).hexdigest()
            assert actual == recorded, (
                f"stage {name}: {dep['path']} changed since dvc.lock was written: run "
                "`dvc repro` and commit dvc.lock"
            )
            checked += 1
    assert checked >= 3 * len(lock), "dvc.lock records less code than its stages run"
