""".github/scripts/pr-review.sh outside act: the steps that decide what the job reports."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "pr-review.sh"


def step(
    command: str, cwd: Path, env: dict[str, str], **extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """Run one subcommand as a workflow step would: its result, outputs and job summary."""
    output, summary = cwd / "github_output", cwd / "step_summary"
    output.touch()
    summary.touch()
    done = subprocess.run(
        [str(SCRIPT), command],
        cwd=cwd,
        env={**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), **extra},
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done, outputs, summary.read_text()


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    """A workspace holding a written report whose verdict line says the gate failed."""
    report = tmp_path / "reports" / "pr"
    report.mkdir(parents=True)
    (report / "report.md").write_text(
        "❌ **Failed**: roc_auc 0.7000 is below the floor 0.8.\n\nmore\n"
    )
    return tmp_path


def test_gate_fails_repeating_the_verdict(report_dir: Path, tool_env: dict[str, str]) -> None:
    """gate=fail fails the step with the report's verdict line as the error annotation."""
    done, _, _ = step("gate", report_dir, tool_env, GATE="fail")
    assert done.returncode == 1
    assert done.stdout.strip() == (
        "::error title=Quality gate failed::❌ **Failed**: roc_auc 0.7000 is below the floor 0.8."
    )


def test_gate_passes_and_refuses_a_missing_verdict(
    report_dir: Path, tool_env: dict[str, str]
) -> None:
    """gate=pass succeeds; no recorded verdict (the report step never ran) fails."""
    assert step("gate", report_dir, tool_env, GATE="pass")[0].returncode == 0
    missing, _, _ = step("gate", report_dir, tool_env, GATE="")
    assert missing.returncode == 1
    assert "no gate verdict" in missing.stdout


def test_summary_holds_the_report_or_says_why_not(
    report_dir: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """The job summary is the report itself, or a note when no report was written."""
    _, _, summary = step("summary", report_dir, tool_env)
    assert summary == (report_dir / "reports/pr/report.md").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    _, _, note = step("summary", empty, tool_env)
    assert "No report was written" in note


def test_report_without_a_report_fails_the_step(
    repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """An unknown base branch: gitops-ml report writes nothing, so the step fails, no verdict."""
    repo = repo_copy()
    done, outputs, _ = step("report", repo, tool_env, BASE_REF="no-such-branch")
    assert done.returncode == 1
    assert "gate" not in outputs
    assert "::error title=No report::gitops-ml report exited 1" in done.stdout
    assert "no-such-branch" in done.stderr


def test_unknown_subcommand_is_refused(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """A typo in the workflow fails loudly instead of doing nothing."""
    done, _, _ = step("repro", tmp_path, tool_env)
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_reproduce_without_the_secret_tracks_in_the_workspace(
    repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """No tracking secret (a fork): runs go to mlflow.db, never to params.yaml's tracking.uri."""
    import sqlite3

    import yaml

    repo = repo_copy()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    # A server the pull request cannot reach: logging there would fail the step.
    params["tracking"] = {"uri": "http://127.0.0.1:9"}
    params["train"]["model"]["max_iter"] = 50  # a new model: a new training run
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    runs_before = sqlite3.connect(repo / "mlflow.db").execute("select count(*) from runs")
    before = runs_before.fetchone()[0]
    done, _, _ = step("reproduce", repo, tool_env, MLFLOW_TRACKING_URI="")
    assert done.returncode == 0, done.stderr
    after = sqlite3.connect(repo / "mlflow.db").execute("select count(*) from runs").fetchone()[0]
    assert after == before + 1
