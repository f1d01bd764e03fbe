"""monitor.yml under act: a drifted run opens ONE `drift` issue, the next run updates it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import run
from .act import run_workflow
from .github import FakeGitHub, workflow_dispatch_event

WORKFLOW = Path(".github/workflows/monitor.yml")


@pytest.fixture
def monitored(
    repo_copy: Callable[[], Path], tmp_path: Path, tool_env: dict[str, str]
) -> tuple[Path, FakeGitHub, Path]:
    """A reproduced project on "GitHub", its data and model pushed to a local DVC remote."""
    repo = repo_copy()
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "store", str(remote)], repo, tool_env)
    run(["dvc", "push", "-q"], repo, tool_env)
    # `dvc repro` re-saved the model (its bytes carry a timestamp): commit the lock that names it.
    run(["git", "add", "-A"], repo, tool_env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "reproduce"], repo, tool_env)
    hub = FakeGitHub.create(tmp_path / "github", repo, tool_env)
    return repo, hub, remote


def issues(hub: FakeGitHub) -> dict:  # type: ignore[type-arg]
    path = hub.api / "issues.json"
    return json.loads(path.read_text()) if path.exists() else {"calls": [], "issues": []}


@pytest.mark.example_data  # the example's columns
@pytest.mark.slow
def test_drift_raises_one_issue_across_runs(
    monitored: tuple[Path, FakeGitHub, Path], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """Two drifted runs: the first opens the issue and uploads the HTML, the second updates it."""
    repo, hub, remote = monitored

    def dispatch(drift: str) -> object:
        event = workflow_dispatch_event({"source": "", "drift": drift, "rows": "1500"})
        done = run_workflow(
            repo / WORKFLOW, "workflow_dispatch", event,
            workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
            secrets={"DVC_REMOTE_URL": str(remote)},
        )  # fmt: skip
        assert done.job_results == {"monitor": "success"}, done.explain()
        return done

    first = dispatch("tenure:shift=12")
    assert first.step_result("check") == "success"  # type: ignore[attr-defined]
    assert "Drift detected" in first.summary  # type: ignore[attr-defined]
    html = first.artifact("monitor-report") / "monitor.html"  # type: ignore[attr-defined]
    assert "<svg" in html.read_text()
    report = json.loads((html.parent / "monitor.json").read_text())
    assert report["drift_detected"] is True
    assert "tenure" in report["summary"]["features_drifted"]
    [opened] = issues(hub)["issues"]
    assert opened["labels"] == ["drift"]
    assert "tenure: distribution shifted" in opened["body"]

    second = dispatch("contract:new=Quarterly")
    assert second.step_result("check") == "success"  # type: ignore[attr-defined]
    [updated] = issues(hub)["issues"]
    assert updated["number"] == opened["number"]
    assert updated["edits"] == 1
    assert len(updated["comments"]) == 1
    assert "contract" in updated["body"]
    calls = [c["argv"][:2] for c in issues(hub)["calls"]]
    assert calls.count(["issue", "create"]) == 1
    assert calls.count(["issue", "edit"]) == 1
    # Retraining dispatch is off unless MONITOR_RETRAIN_WORKFLOW is set.
    assert ["workflow", "run"] not in calls
