"""The README's command lines work as written, with no environment activated.

Every ```bash block of README.md is read from the file (not copied here) and run by bash, line
by line as written, in a copy of the project with its own `.venv` and a PATH that does not hold
it: `.venv/bin/gitops-ml init` then runs `dvc repro`, whose stages call `gitops-ml`. The blocks
about the example run in order in one copy; "Start your own project" runs in a fresh one, with
init answering questions on a terminal as a user would.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, ROOT, copy_project, run
from .support import datasets
from .support.venv import clone_venv

pytestmark = [pytest.mark.slow, pytest.mark.example_data]  # the template as shipped

README = ROOT / "README.md"
OWN_PROJECT = "Start your own project"
# Lines not run, each with why; the test fails when one is no longer in the README.
NOT_RUN = {
    "make test": "the suite this test belongs to: run here, it would run itself",
    "make mlflow-ui": "a server on a fixed port that runs until stopped",
}


@dataclass(frozen=True)
class Block:
    """One ```bash block: the section it is in and its command lines."""

    section: str
    lines: list[str]


def bash_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a markdown text, continuation lines joined."""
    blocks: list[Block] = []
    section, lines, inside = "", [], False
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.strip() == "```bash":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append(Block(section, _joined(lines)))
        elif inside:
            lines.append(line)
    return blocks


def _joined(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1] + line.strip()
        elif line.strip():
            out.append(line)
    return out


def command(line: str) -> str:
    """The line without its comment, words single-spaced."""
    return " ".join(shlex.split(line, comments=True))


def without_venv(env: dict[str, str]) -> dict[str, str]:
    """`env` with no virtual environment active or on PATH."""
    path = [p for p in env["PATH"].split(os.pathsep) if p and Path(p) != BIN]
    out = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    return {**out, "PATH": os.pathsep.join(path)}


@contextmanager
def terminal(answers: list[str]) -> Iterator[int]:
    """A terminal with `answers` typed ahead, one line each: the stdin of an interactive run."""
    typist, tty = os.openpty()
    try:
        os.write(typist, "".join(f"{a}\n" for a in answers).encode())
        yield tty
    finally:
        os.close(tty)
        os.close(typist)


def run_block(block: Block, cwd: Path, env: dict[str, str], stdin: int | None = None) -> str:
    """Run a block's lines in one bash (`source` carries over), stopping at the first failure."""
    script = "\n".join(
        f": not run, {NOT_RUN[command(line)]}" if command(line) in NOT_RUN else line
        for line in block.lines
    )
    done = subprocess.run(
        ["bash", "-e", "-x", "-c", script],
        cwd=cwd,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"README, {block.section!r}: exited {done.returncode}\n--- stdout\n{done.stdout}"
        f"\n--- stderr (each command after +)\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    """The README's bash blocks."""
    found = bash_blocks(README.read_text(encoding="utf-8"))
    shown = {command(line) for block in found for line in block.lines}
    assert set(NOT_RUN) <= shown, "a line listed as not run is no longer in the README"
    assert any(block.section == OWN_PROJECT for block in found)
    return found


def test_the_readmes_commands_about_the_example_run_as_written(
    blocks: list[Block], repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """Quickstart, where to look, changing the model, experiments, the stage's own command."""
    repo = repo_copy()
    clone_venv(repo)
    env = without_venv(tool_env)
    metrics = (repo / "eval/metrics.json").read_text()
    said = "".join(run_block(block, repo, env) for block in blocks if block.section != OWN_PROJECT)
    assert (repo / "dvc_plots/index.html").is_file()  # `dvc plots show`
    assert (repo / "eval/metrics.json").read_text() != metrics  # learning_rate changed
    assert "learning_rate: 0.1" in (repo / "params.yaml").read_text()
    assert re.search(r"Experiment\s*\|", said)  # `dvc exp show --md`
    assert "prepared data/raw/telco_churn.csv" in said


def test_starting_your_own_project_runs_as_written(
    blocks: list[Block], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """make setup, interactive init on new data (its dvc repro included), review and commit."""
    repo = copy_project(tmp_path / "project", tool_env)
    clone_venv(repo)
    spec = datasets.by_name("credit")
    data = datasets.write(datasets.rows(spec, 600), tmp_path / "export" / spec.file_name, spec)
    [block] = [b for b in blocks if b.section == OWN_PROJECT]
    # The user names the dataset and presses Enter for every other question (the defaults).
    with terminal([str(data), *[""] * 20]) as stdin:
        said = run_block(block, repo, without_venv(tool_env), stdin)
    assert "Running stage 'train'" in said
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["raw"] == f"data/raw/{spec.file_name}"
    assert (params["data"]["target"], params["data"]["positive_label"]) == ("risk", "bad")
    log = run(["git", "log", "--format=%s", "-1"], repo, tool_env).stdout
    assert log.strip() == "Start my project"
    assert run(["git", "status", "--porcelain"], repo, tool_env).stdout == ""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["prepare"]["deps"][0]["path"] == f"data/raw/{spec.file_name}"
