"""The CLI's help wraps to the terminal's width instead of cutting text, and the command finds
its own environment's tools when that environment is not activated."""

from __future__ import annotations

import os
import subprocess
import sysconfig

import pytest

from gitops_ml import cli

from .conftest import BIN


def _help(*args: str, columns: int = 80) -> str:
    """The help as a terminal `columns` wide shows it."""
    done = subprocess.run(
        [str(BIN / "gitops-ml"), *args, "--help"],
        env={**os.environ, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", [60, 80])
def test_the_command_list_shows_each_first_sentence_whole(columns: int) -> None:
    """`gitops-ml --help` wraps every command's first sentence; no line is wider than asked."""
    out = _help(columns=columns)
    assert max(len(line) for line in out.splitlines()) <= columns
    listed = _words(out.split("Commands:", 1)[1])
    for info in cli.app.registered_commands:
        assert info.callback is not None
        first = (info.callback.__doc__ or "").split("\n\n")[0]
        assert _words(first) in listed


def test_long_option_names_are_shown_whole() -> None:
    """`init --help` at 80 columns names --remove-example-data in full."""
    out = _help("init")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "--remove-example-data / --keep-example-data" in out
    assert "…" not in out


def test_the_commands_own_environment_comes_first_on_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Children (dvc's stages, `dvc` itself) find this environment's commands, once, first."""
    scripts = sysconfig.get_path("scripts")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    cli._own_commands_first_on_path()
    assert os.environ["PATH"] == f"{scripts}{os.pathsep}/usr/bin:/bin"
    cli._own_commands_first_on_path()
    assert os.environ["PATH"] == f"{scripts}{os.pathsep}/usr/bin:/bin"
    monkeypatch.delenv("PATH")
    cli._own_commands_first_on_path()
    assert os.environ["PATH"] == scripts
