"""pr.yml then pr-judge.yml under act: reproduce the pull request with its code, judge it with
main's, one sticky comment, the gate as a commit status.

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
from .github import FakeGitHub, workflow_run_event

pytestmark = pytest.mark.slow

WORKFLOW = Path(".github/workflows/pr.yml")
JUDGE = Path(".github/workflows/pr-judge.yml")
TITLE = "gitops-ml model report"
STATUS = "gitops-ml / quality gate"
BROKEN_CML = {"ACT_STANDIN_CML": "broken"}
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


@dataclass(frozen=True)
class Review:
    """Both halves of a review: pr.yml reproducing the pull request, pr-judge.yml judging it."""

    reproduced: ActRun
    judged: ActRun

    def explain(self) -> str:
        """Both logs, for assertion messages."""
        return self.reproduced.explain() + "\n=== judge ===\n" + self.judged.explain()


def review(
    repo: Path, hub: FakeGitHub, event: dict[str, Any], team: Team, scratch: Path, **kwargs: Any
) -> Review:
    """Run pr.yml on the event, then pr-judge.yml (main's, in a clone of main) on its completion.

    The reproduction gets the team's DVC remote as a secret unless told otherwise; the judge,
    which runs in the base repository's context, always has a write token and no secret.
    """
    kwargs.setdefault("secrets", {"DVC_REMOTE_URL": str(team.remote)})
    kwargs.setdefault("env", team.env)
    reproduced = run_workflow(
        repo / WORKFLOW, "pull_request", event,
        workdir=repo, github=hub, scratch=scratch, **kwargs,
    )  # fmt: skip
    run_id = str(1000 + len(list(scratch.glob("run-*"))))
    ok = reproduced.job_results.get("reproduce") == "success"
    completed = workflow_run_event(
        run_id=run_id,
        workflow="PR review",
        head_sha=event["pull_request"]["head"]["sha"],
        head_branch=event["pull_request"]["head"]["ref"],
        conclusion="success" if ok else "failure",
    )
    judge_dir = hub.clone(scratch / f"judge-{run_id}")
    judged = run_workflow(
        judge_dir / JUDGE, "workflow_run", completed,
        workdir=judge_dir, github=hub, scratch=scratch, env=kwargs["env"],
        runs={run_id: reproduced.record},
    )  # fmt: skip
    return Review(reproduced, judged)


def uploaded(done: ActRun, name: str = "pr-report") -> dict[str, Path]:
    """The files of an artifact, by path relative to it."""
    root = done.artifact(name)
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def gate_statuses(hub: FakeGitHub, event: dict[str, Any]) -> list[str]:
    """The states of the quality gate's commit status on the pull request's head, in order."""
    head = event["pull_request"]["head"]["sha"]
    return [s["state"] for s in hub.statuses(head) if s["context"] == STATUS]


def test_improving_pr_gets_one_comment_updated_on_rerun(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """A better model passes with one metrics comment and a green status; a rerun edits the
    same comment, and so does gh when CML no longer installs."""
    hub = FakeGitHub.create(tmp_path / "github", improved, team.env)
    event = hub.open_pull_request(11, improved, "better-model")

    first = review(improved, hub, event, team, tmp_path / "act")

    assert first.reproduced.job_results == {"reproduce": "success"}, first.explain()
    assert first.judged.job_results == {"judge": "success"}, first.explain()
    # The pull request's code runs in the reproduction only, with a read-only checkout.
    [pr_checkout] = first.reproduced.calls("checkout")
    assert pr_checkout["head"] == hub.sha("refs/pull/11/merge")
    assert pr_checkout["inputs"]["persist-credentials"] == "false"
    assert "DVC remote configured" in first.reproduced.output
    packed = uploaded(first.reproduced, "pr-reproduction")
    assert {
        "params.yaml", "dvc.lock", "eval/metrics.json", "eval/predictions.csv",
        "models/model.skops", "data/prepared/test.parquet", "data/prepared/schema.json",
        "data/prepared/train_keys.parquet", "dvc-status.json", "pull-request.json",
    } <= packed.keys()  # fmt: skip
    assert json.loads(packed["pull-request.json"].read_text()) == {"number": 11}
    # The judge runs main's code, reads the pull request's head with git, and the artifact.
    base_checkout, head_checkout = first.judged.calls("checkout")
    assert base_checkout["head"] == hub.sha("refs/heads/main")
    assert base_checkout["inputs"]["fetch-depth"] == "0"
    assert head_checkout["ref"] == "refs/pull/11/head"
    assert head_checkout["inputs"]["path"] == "pr-head"
    [download] = first.judged.calls("download-artifact")
    assert download["inputs"]["run-id"] == "1001"
    assert download["inputs"]["name"] == "pr-reproduction"
    assert download["token"] is True
    [judge_cache] = first.judged.calls("cache")
    assert re.fullmatch(r"judge-venv-Linux-py3\.11-[0-9a-f]{64}", judge_cache["inputs"]["key"])
    [pr_cache] = first.reproduced.calls("cache")
    assert re.fullmatch(r"venv-Linux-py3\.11-[0-9a-f]{64}", pr_cache["inputs"]["key"])

    [comment] = hub.comments(11)
    body = comment["body"]
    assert body.startswith("✅ **Passed**: all ")
    assert "| metric | base `" in body
    assert re.search(
        r"\| `train\.model\.type` \| .*hist_gradient_boosting.* \| .*logistic_regression", body
    )
    assert "- ✅ `eval/predictions.csv` is what the model gives." in body
    assert comment["watermark"] == TITLE
    [call] = hub.cml_store()["calls"]
    assert call["argv"][:2] == ["comment", "update"]
    assert call["options"] == {"target": "pr/11", "watermark-title": TITLE, "publish": "false"}
    assert body.startswith(first.judged.summary)
    assert body.endswith(f'"CML watermark {TITLE}")')
    files = uploaded(first.judged)
    assert {"report.md", "report.json"} <= files.keys()
    assert any(name.endswith(".png") for name in files)
    report = json.loads(files["report.json"].read_text())
    assert report["passed"] is True
    assert report["branch"]["sha"] == event["pull_request"]["head"]["sha"]
    assert report["rescoring"]["reported_differences"] == []
    [auc] = [m for m in report["metrics"] if m["metric"] == "roc_auc"]
    assert auc["branch"] > auc["base"]
    # The comment shows the report's own numbers (whatever the project's data gives).
    assert f"| roc_auc ↑ | {auc['base']:.4f} | {auc['branch']:.4f} | " in body
    assert first.judged.calls("npm")[0]["argv"] == ["install", "--global", "@dvcorg/cml@0.20.6"]
    assert gate_statuses(hub, event) == ["pending", "success"]

    second = review(improved, hub, event, team, tmp_path / "act")

    assert second.judged.job_results == {"judge": "success"}, second.explain()
    [again] = hub.comments(11)
    assert again["id"] == comment["id"]
    assert again["updates"] == 1
    assert [c["result"] for c in hub.cml_store()["calls"]] == [
        "created comment 1 on pull request 11",
        "updated comment 1 on pull request 11",
    ]

    # CML no longer installs: the same comment is updated with gh, and CML would find it again.
    third = review(improved, hub, event, team, tmp_path / "act", env={**team.env, **BROKEN_CML})

    assert third.judged.job_results == {"judge": "success"}, third.explain()
    [still] = hub.comments(11)
    assert (still["id"], still["updates"]) == (comment["id"], 2)
    assert still["body"].startswith(third.judged.summary)
    assert still["body"].endswith(f'"CML watermark {TITLE}")')
    assert f"Updated comment {comment['id']} with gh." in third.judged.output


def test_pr_that_cripples_the_model_fails_with_the_gate_reason(team: Team, tmp_path: Path) -> None:
    """A one-split model gets its report posted, then the judge fails naming the broken floor."""
    repo = team.clone("tiny-model")
    set_model(repo, CRIPPLED)
    reproduce_and_push(repo, team.env)
    commit(repo, team.env, "Shrink the model")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(12, repo, "tiny-model")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.reproduced.job_results == {"reproduce": "success"}, done.explain()
    assert done.judged.job_results == {"judge": "failure"}, done.explain()
    assert done.judged.step_result("report") == "success"
    [comment] = hub.comments(12)
    assert comment["body"].startswith("❌ **Failed**: ")
    report = json.loads(uploaded(done.judged)["report.json"].read_text())
    assert report["passed"] is False
    # The bars are this project's gates.floors; the reason names a broken one.
    broken = [c for c in report["gate"]["checks"] if c["rule"] == "floor" and not c["passed"]]
    assert broken, report["gate"]["checks"]
    assert re.search(
        rf"{broken[0]['metric']} \d\.\d{{4}} is (below the floor|above the ceiling)",
        report["reason"],
    )
    [error] = done.judged.errors
    assert error == f"❌ **Failed**: {report['reason']}"
    assert comment["body"].startswith(done.judged.summary)
    assert gate_statuses(hub, event) == ["pending", "failure"]
    [status] = [
        s for s in hub.statuses(event["pull_request"]["head"]["sha"]) if s["state"] == "failure"
    ]
    assert status["description"].startswith(f"Failed: {broken[0]['metric']} ")
    assert len(status["description"]) <= 140


def test_pr_that_bends_its_judge_still_fails(team: Team, tmp_path: Path) -> None:
    """A crippled model whose pull request also edits the gate to drop failed checks and the
    evaluation code to write perfect scores and metrics: its own code really runs in the
    reproduction, and the judge (main's code) re-scores the model and fails it."""
    repo = team.clone("bent-judge")
    set_model(repo, CRIPPLED)
    gate_py = repo / "src/gitops_ml/review/gate.py"
    source = gate_py.read_text(encoding="utf-8")
    gate_py.write_text(
        source.replace("    return checks\n", "    return [c for c in checks if c.passed]\n"),
        encoding="utf-8",
    )
    evaluate_py = repo / "src/gitops_ml/pipeline/evaluate.py"
    source = evaluate_py.read_text(encoding="utf-8")
    anchor = "    y, proba = scored_split(pipeline, test, schema)\n"
    assert anchor in source
    evaluate_py.write_text(
        source.replace(anchor, anchor + "    proba = np.where(y == 1, 0.99, 0.01)\n"),
        encoding="utf-8",
    )
    # The pull request's own code reproduces (first on the path, as CI installs it).
    own_code = {**team.env, "PYTHONPATH": str(repo / "src")}
    reproduce_and_push(repo, own_code)
    commit(repo, team.env, "Shrink the model; a gate and evaluation that agree with it")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(16, repo, "bent-judge")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.reproduced.job_results == {"reproduce": "success"}, done.explain()
    packed = uploaded(done.reproduced, "pr-reproduction")
    claimed = json.loads(packed["eval/metrics.json"].read_text())
    assert claimed["roc_auc"] == 1.0  # the pull request's evaluation code ran
    assert done.judged.job_results == {"judge": "failure"}, done.explain()
    report = json.loads(uploaded(done.judged)["report.json"].read_text())
    assert report["passed"] is False
    failures = report["failures"]
    assert failures[0].startswith(
        "eval/predictions.csv is not what this branch's model gives on its test split: "
    )
    broken = [c for c in report["gate"]["checks"] if c["rule"] == "floor" and not c["passed"]]
    assert broken, report["gate"]["checks"]
    assert broken[0]["detail"] in failures
    rescored = report["rescoring"]
    assert rescored["metrics"]["roc_auc"] < claimed["roc_auc"]
    # The table shows the model's real change, measured on the judge's own scores.
    [auc] = [m for m in report["metrics"] if m["metric"] == "roc_auc"]
    assert auc["branch"] == rescored["metrics"]["roc_auc"]
    assert (auc["direction"], auc["beyond_noise"]) == (-1, True)
    assert f"roc_auc: 1.0 → {rescored['metrics']['roc_auc']}" in rescored["reported_differences"]
    [comment] = hub.comments(16)
    assert "says otherwise (its evaluation code differs from the judge's)" in comment["body"]
    assert gate_statuses(hub, event) == ["pending", "failure"]


def test_fork_pr_is_reproduced_without_secrets_and_judged_with_a_comment(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """A fork's pull request, in a repository set to send secrets to forks: its code still sees
    no DVC remote and no tracking server (the unreachable server in the secret would fail the
    job if it were used), with a read-only token; the judge, in the base repository's context,
    still comments and sets the status."""
    hub = FakeGitHub.create(tmp_path / "github", team.main, team.env)
    event = hub.open_pull_request(14, improved, "better-model", fork="someone/churn")
    secrets = {
        "DVC_REMOTE_URL": str(team.remote),
        "AWS_ACCESS_KEY_ID": "AKIA-should-not-reach-a-fork",
        "AWS_SECRET_ACCESS_KEY": "secret-should-not-reach-a-fork",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9/should-not-reach-a-fork",
        "MLFLOW_TRACKING_USERNAME": "ci",
        "MLFLOW_TRACKING_PASSWORD": "password-should-not-reach-a-fork",
    }

    done = review(improved, hub, event, team, tmp_path / "act", secrets=secrets, token="read")

    assert done.reproduced.job_results == {"reproduce": "success"}, done.explain()
    assert "No DVC remote configured" in done.reproduced.output
    assert "DVC remote configured:" not in done.reproduced.output
    assert "should-not-reach-a-fork" not in done.reproduced.output
    assert done.judged.job_results == {"judge": "success"}, done.explain()
    assert done.judged.summary.startswith("✅ **Passed**: all ")
    assert "| roc_auc ↑ |" in done.judged.summary
    [comment] = hub.comments(14)
    assert comment["body"].startswith(done.judged.summary)
    assert gate_statuses(hub, event) == ["pending", "success"]


def test_stale_dvc_lock_fails_with_the_command_to_fix_it(
    team: Team, improved: Path, tmp_path: Path
) -> None:
    """params.yaml changed without `dvc repro`: the judge fails and says what to run.

    `improved` pushed this very run to the team's remote, so CI restores it from the run-cache.
    """
    repo = team.clone("forgot-repro")
    set_model(repo, BETTER)
    commit(repo, team.env, "Try logistic regression (not reproduced)", "params.yaml")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(15, repo, "forgot-repro")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.judged.job_results == {"judge": "failure"}, done.explain()
    [error] = done.judged.errors
    assert "the committed dvc.lock and eval/ are not what this code reproduces" in error
    assert "run `dvc repro`, then commit `dvc.lock` and `eval/`" in error
    [comment] = hub.comments(15)
    assert comment["body"].startswith("❌ **Failed**: the committed dvc.lock and eval/ are not")


def test_pr_whose_pipeline_does_not_reproduce_fails_with_a_link(team: Team, tmp_path: Path) -> None:
    """The reproduction fails (an unknown model type): the judge still comments and fails."""
    repo = team.clone("broken-params")
    set_model(repo, {"type": "no_such_model"})
    commit(repo, team.env, "A model type that does not exist")
    hub = FakeGitHub.create(tmp_path / "github", repo, team.env)
    event = hub.open_pull_request(17, repo, "broken-params")

    done = review(repo, hub, event, team, tmp_path / "act")

    assert done.reproduced.job_results == {"reproduce": "failure"}, done.explain()
    assert done.judged.job_results == {"judge": "failure"}, done.explain()
    assert done.judged.calls("download-artifact") == []
    [comment] = hub.comments(17)
    assert comment["body"].startswith(
        "❌ **Failed**: the pull request's pipeline did not reproduce (failure): see https://"
    )
    assert gate_statuses(hub, event) == ["pending", "failure"]
