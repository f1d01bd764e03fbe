"""pr.yml under act: reproduce, report against the base, one sticky comment, gate.

Each scenario is a developer clone of the reproduced project with a branch, a bare `origin`
standing for GitHub, and a run of the real workflow file with stand-ins for the hosted actions
and CML (tests/workflows). The team's DVC remote (a local directory, passed as the
DVC_REMOTE_URL secret) holds the run-cache of every pipeline run a developer pushed, so CI
restores those stages instead of re-training; the fork scenario gets no secrets and reproduces
from scratch.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import run
from .act import ActRun, run_workflow
from .github import FakeGitHub

pytestmark = pytest.mark.slow

WORKFLOW = Path(".github/workflows/pr.yml")
TITLE = "gitops-ml model report"
BETTER = {"type": "logistic_regression", "C": 1.0}
# One boosting stage of a two-leaf tree: a single split, far below the ROC AUC floor.
CRIPPLED = {"type": "hist_gradient_boosting", "max_iter": 1, "max_leaf_nodes": 2}


@dataclass(frozen=True)
class Team:
    """The team's side: main reproduced and pushed to a shared DVC remote."""

    root: Path
    main: Path
    remote: Path
    env: dict[str, str]

    def clone(self, branch: str) -> Path:
        """A developer's copy of the repository (DVC cache and outputs too) on a new branch."""
        repo = self.root / branch
        shutil.copytree(self.main, repo, symlinks=True)
        run(["git", "checkout", "-q", "-b", branch], repo, self.env)
        return repo


def set_model(repo: Path, model: dict[str, Any]) -> None:
    """Edit params.yaml's train.model as a developer would."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["train"]["model"] = model
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def reproduce_and_push(repo: Path, env: dict[str, str]) -> None:
    """`dvc repro`, then push data and run-cache to the team's remote."""
    run(["dvc", "repro", "-q"], repo, env)
    run(["dvc", "push", "-q", "--run-cache"], repo, env)


def commit(repo: Path, env: dict[str, str], message: str, *paths: str) -> None:
    """Commit the given paths (everything when none)."""
    run(["git", "add", *(paths or ("-A",))], repo, env)
    run(["git", "commit", "-q", "-m", message], repo, env)


@pytest.fixture(scope="module")
def team(
    reproduced: Path, tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]
) -> Team:
    """main with the reproduced results committed, its data and run-cache on the DVC remote."""
    root = tmp_path_factory.mktemp("pr-workflow")
    main = root / "main"
    shutil.copytree(reproduced, main, symlinks=True)
    run(["git", "add", "-A"], main, tool_env)
    if run(["git", "status", "--porcelain"], main, tool_env).stdout.strip():
        run(["git", "commit", "-q", "-m", "Reproduce the pipeline"], main, tool_env)
    remote = root / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "team", str(remote)], main, tool_env)
    run(["dvc", "push", "-q", "--run-cache"], main, tool_env)
    return Team(root, main, remote, tool_env)


@pytest.fixture(scope="module")
def improved(team: Team) -> Path:
    """Branch `better-model`: logistic regression, reproduced, pushed and committed."""
    repo = team.clone("better-model")
    set_model(repo, BETTER)
    reproduce_and_push(repo, team.env)
    commit(repo, team.env, "Try logistic regression")
    return repo


def review(
    repo: Path, hub: FakeGitHub, event: dict[str, Any], team: Team, scratch: Path, **kwargs: Any
) -> ActRun:
    """Run pr.yml on the event; secrets name the team's DVC remote unless overridden."""
    kwargs.setdefault("secrets", {"DVC_REMOTE_URL": str(team.remote)})
    return run_workflow(
        repo / WORKFLOW, "pull_request", event,
        workdir=repo, github=hub, scratch=scratch, env=team.env, **kwargs,
    )  # fmt: skip


def uploaded(done: ActRun) -> dict[str, Path]:
    """The files of the `pr-report` artifact, by name."""
    root = done.artifact("pr-report")
    return {p.name: p for p in root.rglob("*") if p.is_file()}


def test_improving_pr_gets_one_comment_updated_on_rerun(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """A better model passes with one metrics comment; a second run edits that same comment."""
    hub = FakeGitHub.create(tmp_path / "github", improved, team.env)
    event = hub.open_pull_request(11, improved, "better-model")

    first = review(improved, hub, event, team, tmp_path / "act")

    assert first.job_results == {"review": "success"}, first.explain()
    [checkout] = first.calls("checkout")
    assert checkout["inputs"]["fetch-depth"] == "0"
    assert checkout["inputs"]["persist-credentials"] == "false"
    assert checkout["head"] == hub.sha("refs/pull/11/merge")
    assert "DVC remote configured" in first.output
    [comment] = hub.comments(11)
    body = comment["body"]
    assert body.startswith("✅ **Passed**: all ")
    assert "| metric | base `" in body
    assert re.search(
        r"\| `train\.model\.type` \| .*hist_gradient_boosting.* \| .*logistic_regression", body
    )
    assert comment["watermark"] == TITLE
    [call] = hub.cml_store()["calls"]
    assert call["argv"][:2] == ["comment", "update"]
    assert call["options"] == {"target": "pr", "watermark-title": TITLE, "publish": "false"}
    assert first.summary == body
    files = uploaded(first)
    assert {"report.md", "report.json"} <= files.keys()
    assert any(name.endswith(".png") for name in files)
    report = json.loads(files["report.json"].read_text())
    assert report["passed"] is True
    [auc] = [m for m in report["metrics"] if m["metric"] == "roc_auc"]
    assert auc["branch"] > auc["base"]
    # The comment shows the report's own numbers (whatever the project's data gives).
    assert f"| roc_auc ↑ | {auc['base']:.4f} | {auc['branch']:.4f} | " in body
    [cache] = first.calls("cache")
    assert re.fullmatch(r"venv-Linux-py3\.11-[0-9a-f]{64}", cache["inputs"]["key"])
    assert first.calls("npm")[0]["argv"] == ["install", "--global", "@dvcorg/cml@0.20.6"]

    second = review(improved, hub, event, team, tmp_path / "act")

    assert second.job_results == {"review": "success"}, second.explain()
    [again] = hub.comments(11)
    assert again["id"] == comment["id"]
    assert again["updates"] == 1
    assert [c["result"] for c in hub.cml_store()["calls"]] == [
        "created comment 1 on pull request 11",
        "updated comment 1 on pull request 11",
    ]


def test_pr_that_cripples_the_model_fails_with_the_gate_reason(team: Team, tmp_path: Path) -> None:
    """A one-split model gets its report posted, then the job fails naming the broken floor."""
    repo = team.clone("tiny-model")
    set_model(repo, CRIPPLED)
    reproduce_and_push(repo, team.env)
    commit(repo, team.env, "Shrink the model")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(12, repo, "tiny-model")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.job_results == {"review": "failure"}, done.explain()
    assert done.returncode != 0
    assert done.step_result("report") == "success"
    [comment] = hub.comments(12)
    assert comment["body"].startswith("❌ **Failed**: ")
    report = json.loads(uploaded(done)["report.json"].read_text())
    assert report["passed"] is False
    # The bars are this project's gates.floors; the reason names a broken one.
    broken = [c for c in report["gate"]["checks"] if c["rule"] == "floor" and not c["passed"]]
    assert broken, report["gate"]["checks"]
    assert re.search(
        rf"{broken[0]['metric']} \d\.\d{{4}} is (below the floor|above the ceiling)",
        report["reason"],
    )
    [error] = done.errors
    assert error == f"❌ **Failed**: {report['reason']}"
    assert done.summary == comment["body"]


def test_fork_pr_gets_summary_and_artifact_but_no_comment(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """A fork's PR: no secrets, read-only token; no comment attempt, the job still passes."""
    hub = FakeGitHub.create(tmp_path / "github", team.main, team.env)
    event = hub.open_pull_request(14, improved, "better-model", fork="someone/churn")

    done = review(improved, hub, event, team, tmp_path / "act", secrets={}, token="read")

    assert done.job_results == {"review": "success"}, done.explain()
    assert "No DVC remote configured" in done.output
    assert hub.cml_store()["calls"] == []
    assert done.calls("npm") == []
    assert done.summary.startswith("✅ **Passed**: all ")
    assert "| roc_auc ↑ |" in done.summary
    assert uploaded(done)["report.md"].read_text() == done.summary


def test_fork_pr_never_gets_the_credentials_even_when_secrets_are_sent_to_forks(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """A repository set to send secrets to fork pull requests still gives a fork's code none:
    the reproduce step sees no DVC remote and no tracking server (the unreachable server in the
    secret would fail the job if it were used) and the job reproduces in the workspace."""
    hub = FakeGitHub.create(tmp_path / "github", team.main, team.env)
    event = hub.open_pull_request(16, improved, "better-model", fork="someone/churn")
    secrets = {
        "DVC_REMOTE_URL": str(team.remote),
        "AWS_ACCESS_KEY_ID": "AKIA-should-not-reach-a-fork",
        "AWS_SECRET_ACCESS_KEY": "secret-should-not-reach-a-fork",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9/should-not-reach-a-fork",
        "MLFLOW_TRACKING_USERNAME": "ci",
        "MLFLOW_TRACKING_PASSWORD": "password-should-not-reach-a-fork",
    }

    done = review(improved, hub, event, team, tmp_path / "act", secrets=secrets, token="read")

    assert done.job_results == {"review": "success"}, done.explain()
    assert "No DVC remote configured" in done.output
    assert "DVC remote configured:" not in done.output
    assert "should-not-reach-a-fork" not in done.output


def test_stale_dvc_lock_fails_with_the_command_to_fix_it(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """params.yaml changed without `dvc repro`: the job fails and says what to run.

    `improved` pushed this very run to the team's remote, so CI restores it from the run-cache.
    """
    repo = team.clone("forgot-repro")
    set_model(repo, BETTER)
    commit(repo, team.env, "Try logistic regression (not reproduced)", "params.yaml")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(15, repo, "forgot-repro")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.job_results == {"review": "failure"}, done.explain()
    [error] = done.errors
    assert "dvc.lock is out of date" in error
    assert "run `dvc repro`, then commit `dvc.lock` and `eval/`" in error
    [comment] = hub.comments(15)
    assert comment["body"].startswith("❌ **Failed**: dvc.lock is out of date")
