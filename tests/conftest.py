"""Shared fixtures: the default data in memory, and real git + DVC copies of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from filelock import FileLock

from gitops_ml.core.params import Params, load_params
from gitops_ml.infra.tables import read_table

# Fixtures of the serving tests (a small trained model, a real MLflow server) and of the
# shared-infrastructure tests (S3-compatible server, PostgreSQL).
pytest_plugins = ("tests.support.serving", "tests.support.infra")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
# The dataset the template ships; tests marked `example_data` are about it (see below).
EXAMPLE_RAW = "data/raw/telco_churn.csv"
_LEFT_OUT = pytest.StashKey[int]()


def uses_example_data(root: Path = ROOT) -> bool:
    """Whether the project at `root` still runs on the shipped example dataset."""
    from gitops_ml.core.errors import ParamsError

    try:
        return load_params(root / "params.yaml").data.raw == EXAMPLE_RAW
    except ParamsError:
        return True  # leave nothing out: the tests that read params.yaml report the problem


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests about the example data once `gitops-ml init` replaced it."""
    if uses_example_data():
        return
    # Deselected, not skipped: they test the template's example, which this project no longer has.
    left_out = [item for item in items if item.get_closest_marker("example_data")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("example_data")]
    config.stash[_LEFT_OUT] = len(left_out)
    if hasattr(config, "workeroutput"):  # a pytest-xdist worker: tell the controller
        config.workeroutput["example_data_left_out"] = len(left_out)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Under pytest-xdist, collect the workers' count of left-out tests (each saw all of them)."""
    count = getattr(node, "workeroutput", {}).get("example_data_left_out", 0)
    stash = node.config.stash
    stash[_LEFT_OUT] = max(stash.get(_LEFT_OUT, 0), count)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many example-data tests were left out, and why."""
    left_out = terminalreporter.config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} example-data test(s) left out: params.yaml's data.raw is not "
            f"{EXAMPLE_RAW} (they test the template's example dataset; see docs/init.md)"
        )


@pytest.fixture(scope="session")
def params() -> Params:
    """The project's own params.yaml."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def raw_frame(params: Params) -> pd.DataFrame:
    """The project's dataset as the pipeline reads it (CSV or Parquet; the target as text)."""
    return read_table(ROOT / params.data.raw, text=[params.data.target]).frame


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for real git/dvc/gitops-ml subprocesses: quiet, offline, isolated."""
    home = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for name in ("MLFLOW_TRACKING_URI", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_ACTIONS"):
        env.pop(name, None)
    return env


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its output; on an unexpected exit, fail showing both streams.
    `timeout` only guards against a hang: no test asserts how long anything takes."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done


def project_files() -> list[str]:
    """Files a clone of the project would hold (tracked or not ignored), without outputs."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [f for f in listed if (ROOT / f).is_file()]


def copy_project(dest: Path, env: dict[str, str]) -> Path:
    """A fresh git repository holding the project's files, committed on `main`."""
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    # A large dataset is versioned by DVC, so git ignores it: copy it too, as `dvc pull` would.
    raw = load_params(ROOT / "params.yaml").data.raw
    if (ROOT / raw).is_file() and not (dest / raw).exists():
        (dest / raw).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / raw, dest / raw)
    run(["git", "init", "-q", "-b", "main"], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-q", "-m", "initial"], dest, env)
    return dest


@pytest.fixture(scope="session")
def reproduced(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str], worker_id: str
) -> Path:
    """A git copy of the project after one real `dvc repro` (shared: copy it to change it)."""
    if worker_id == "master":
        repo = copy_project(tmp_path_factory.mktemp("reproduced"), tool_env)
        run(["dvc", "repro"], repo, tool_env)
        return repo
    # Under pytest-xdist the workers share one reproduction: the first builds it, under a lock.
    shared = tmp_path_factory.getbasetemp().parent
    repo = shared / "reproduced"
    with FileLock(shared / "reproduced.lock"):
        if not (shared / "reproduced.done").exists():
            shutil.rmtree(repo, ignore_errors=True)
            repo.mkdir()
            run(["dvc", "repro"], copy_project(repo, tool_env), tool_env)
            (shared / "reproduced.done").touch()
    return repo


@pytest.fixture
def repo_copy(reproduced: Path, tmp_path: Path, tool_env: dict[str, str]) -> Callable[[], Path]:
    """Factory for a private copy of the reproduced repository (git, DVC cache and outputs)."""

    def make() -> Path:
        dest = tmp_path / f"repo{len(list(tmp_path.iterdir()))}"
        shutil.copytree(reproduced, dest, symlinks=True)
        return dest

    return make


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite tracking store in the test's directory, which becomes the working
    directory; named in the environment as the commands read it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def registry_uri(tmp_path: Path) -> str:
    """An SQLite store: the registry of a project without a tracking server."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"
