"""What the pipeline's tests share: running the `gitops-ml` command in-process."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from gitops_ml.cli import main

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
