"""Fixtures of the promotion tests: a real MLflow server per module, and repositories whose
`origin` is a bare git repository, copied from one prepared by a real `dvc repro prepare`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import copy_project, run
from ..support.promotion import clone_prepared, point_at
from ..support.serving import start_mlflow_server


@pytest.fixture(scope="module")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]
) -> Iterator[str]:
    """A registry of this module's own on a real MLflow server; yields its URI."""
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"), tool_env) as server:
        yield server.uri


@pytest.fixture
def registry_uri(mlflow_server: str) -> str:
    """The registry the test promotes to (a module may point it at an SQLite store instead)."""
    return mlflow_server


@pytest.fixture
def env(
    registry_uri: str, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment pointing both subprocesses and in-process calls at the registry."""
    return point_at(registry_uri, tool_env, monkeypatch)


@pytest.fixture(scope="module")
def prepared_repo(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    """A git copy of the project after a real `dvc repro prepare` (models come per test)."""
    repo = copy_project(tmp_path_factory.mktemp("prepared"), tool_env)
    run(["dvc", "repro", "-q", "prepare"], repo, tool_env)
    return repo


@pytest.fixture
def model_name(request: Any) -> str:
    """A registered model name of the test's own."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return f"m-{name}"[:60].rstrip("-")


@pytest.fixture
def make_repo(
    prepared_repo: Path, tmp_path: Path, env: dict[str, str], model_name: str
) -> Callable[[], Path]:
    """Factory: a copy of the prepared repository whose `origin` is a bare repo (one per test)."""
    origin = tmp_path / "origin.git"

    def make() -> Path:
        repo = tmp_path / f"repo{len(list(tmp_path.glob('repo*')))}"
        return clone_prepared(prepared_repo, repo, origin, env, model_name)

    return make
