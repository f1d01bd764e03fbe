"""Promotion on merge against a real `mlflow server` and real git repositories with a bare origin.

Model variants are trained in-process with small hyperparameter changes (seconds each) and
recorded in dvc.lock with a real `dvc commit`, instead of a full `dvc repro` per scenario.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gto.api
import pandas as pd
import pytest
import yaml

from gitops_ml.core.errors import ConcurrentChangeError, UserError
from gitops_ml.core.model import features
from gitops_ml.core.params import Params, load_params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import lineage, model_source, tracking
from gitops_ml.infra.files import md5
from gitops_ml.release import promotion, rollback, status
from gitops_ml.release.registry import CHALLENGER, CHAMPION, PREVIOUS, ModelRegistry

from ..conftest import BIN, ROOT, run
from ..support.promotion import build_variant, git_out, promote_here, tags_of
from ..support.serving import free_port
from ..workflows.act import STANDINS, run_workflow
from ..workflows.github import FakeGitHub, push_event, workflow_dispatch_event

# Variants of the shipped hist_gradient_boosting model, ordered by test ROC AUC on the
# default data (about 0.78, 0.82 and 0.85): each trains in about a second.
WORSE = {"max_iter": 3, "max_leaf_nodes": 4}
WEAK = {"max_iter": 20, "max_leaf_nodes": 2}
BETTER = {"max_iter": 30, "max_leaf_nodes": 8, "learning_rate": 0.1}


@pytest.mark.example_data  # the variants' AUC order holds on the example
@pytest.mark.slow
def test_promotion_lifecycle(
    make_repo: Callable[[], Path],
    env: dict[str, str],
    tool_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """First promotion, a better model promoted, a worse one rejected, an idempotent rerun,
    rollback (by rollback.yml under act) and roll-forward: aliases, registry history, git tags
    and GTO all agree."""
    repo = make_repo()
    params = load_params(repo / "params.yaml")
    name = params.registry.model_name
    reg = ModelRegistry(name, env["MLFLOW_TRACKING_URI"])

    # 1. First promotion. The training run is on the server (as `dvc repro` logs it); the PR
    # number comes from the squash-merge subject.
    c1 = build_variant(repo, env, "Weak baseline (#11)", **WEAK)
    monkeypatch.chdir(repo)
    prepared = repo / "data" / "prepared"
    schema = FeatureSchema.read(prepared / "schema.json")
    run_id = tracking.log_training(
        model_path=repo / "models" / "model.skops",
        example=features(pd.read_parquet(prepared / "test.parquet"), schema).head(5),
        params=load_params(repo / "params.yaml"),
        data_files=[prepared / "train.parquet", prepared / "test.parquet"],
        schema=schema,
    )
    first = promote_here(repo, monkeypatch)
    assert first.decision.promote
    assert first.decision.reason.startswith("first champion")
    assert first.gto_tags == [f"{name}@v1.0.0", f"{name}#prod#1"]
    v1 = reg.get(first.version)
    assert v1.run_id == run_id
    assert v1.tags["git.commit"] == c1
    assert v1.tags["pr"] == "11"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    model_out = lock["stages"]["train"]["outs"][0]
    assert v1.tags["dvc.model.md5"] == model_out["md5"]
    assert v1.tags["dvc.data.md5"] == lock["stages"]["prepare"]["deps"][0]["md5"]
    assert len(v1.tags["requirements.md5"]) == 32
    assert float(v1.tags["metrics.roc_auc"]) == pytest.approx(0.8155, abs=0.01)
    assert v1.description.startswith(f"# Model card: {name} v{first.version}")
    attached = [a.path for a in reg.client.list_artifacts(run_id, "registry/v1")]
    assert attached == ["registry/v1/model_card.md"]
    assert reg.aliases() == {CHAMPION: "1", CHALLENGER: "1", "champion-v1": "1"}
    written = json.loads((repo / "reports/promotion/decision.json").read_text())
    assert written["promoted"] is True
    assert written["version"] == "1"

    # 2. A better challenger: no training run on the server this time, so promote logs it.
    c2 = build_variant(repo, env, "Deeper trees", **BETTER)
    second = promote_here(repo, monkeypatch)
    assert second.decision.promote, second.decision.reason
    assert second.decision.champion_version == "1"
    assert second.decision.delta is not None
    assert second.decision.delta > 0.02
    assert reg.aliases()[CHAMPION] == "2"
    assert reg.aliases()[PREVIOUS] == "1"
    assert reg.get("2").run_id not in (None, run_id)

    # A commit that leaves the model as it is registers nothing.
    git_out(repo, env, "commit", "-q", "--allow-empty", "-m", "Docs only")
    git_out(repo, env, "push", "-q", "origin", "main")
    same = promote_here(repo, monkeypatch)
    assert (same.version, same.decision.promote) == ("2", False)
    assert same.decision.reason == "same model file as champion v2: nothing registered"
    assert [v.version for v in reg.versions()] == ["1", "2"]

    # 3. A worse challenger clears the floor but loses beyond noise: rejected, champion kept.
    c3 = build_variant(repo, env, "Fewer iterations", **WORSE)
    third = promote_here(repo, monkeypatch)
    assert not third.decision.promote
    assert "worse beyond noise" in third.decision.reason
    assert third.decision.delta is not None
    assert third.decision.delta_se is not None
    assert third.decision.delta < -third.decision.delta_se
    assert third.gto_tags == []
    aliases = reg.aliases()
    assert aliases[CHAMPION] == "2"
    assert aliases[CHALLENGER] == "3"
    md = (repo / "reports/promotion/decision.md").read_text()
    assert "not promoted" in md
    assert "worse beyond noise" in md

    # 4. Rerun for the same commit: same version, no new version, tag or event.
    events_before = reg.events()
    again = promote_here(repo, monkeypatch)
    assert again.rerun
    assert again.version == "3"
    assert again.decision == third.decision
    assert [v.version for v in reg.versions()] == ["1", "2", "3"]
    assert reg.events() == events_before

    # 5. Rollback through rollback.yml under act (GitHub stood in), dispatched with a reason
    # full of shell syntax that must be recorded verbatim; then roll forward to v2 in-process.
    git_out(repo, env, "push", "-q", "origin", "main")
    hub = FakeGitHub(root=repo.parent, env=tool_env)
    hub.api.mkdir()
    reason = 'p99 latency $(touch pwned) `touch pwned` "quoted"'
    done = run_workflow(
        WORKFLOWS / "rollback.yml", "workflow_dispatch",
        workflow_dispatch_event({"version": "", "reason": reason}),
        workdir=repo, github=hub, scratch=repo.parent / "act", env=tool_env,
        secrets={"MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"]},
    )  # fmt: skip
    assert done.job_results == {"rollback": "success"}, done.explain()
    assert "- champion: v1" in done.summary
    assert not [c for c in done.calls("cache") if c["inputs"]["key"].startswith("registry-")]
    assert not list(Path(tool_env["HOME"]).rglob("pwned"))
    assert not list(repo.parent.rglob("pwned"))
    assert reg.aliases()[CHAMPION] == "1"
    assert reg.aliases()[PREVIOUS] == "2"
    forward = rollback.rollback(repo, params, "v2", "fixed upstream")
    assert (forward.from_version, forward.to_version) == ("1", "2")
    assert reg.aliases()[CHAMPION] == "2"
    history = [(e["action"], e["version"], e["from"]) for e in reg.events()]
    assert history == [
        ("promote", "1", None),
        ("promote", "2", "1"),
        ("reject", "3", "2"),
        ("rollback", "1", "2"),
        ("rollback", "2", "1"),
    ]
    assert reg.events()[3]["reason"] == reason

    # 6. An unknown version is refused with a clear message, nothing changed.
    bad = run(["gitops-ml", "rollback", "--to", "99", "--reason", "x"], repo, env, check=False)
    assert bad.returncode == 1
    assert "has no version '99' (versions: 1, 2, 3)" in bad.stderr
    assert "Traceback" not in bad.stderr
    with pytest.raises(UserError, match=r"has no version 'latest' \(versions: 1, 2, 3\)"):
        rollback.rollback(repo, params, "latest", "x")
    assert reg.aliases()[CHAMPION] == "2"

    # 7. The git record, read from a fresh clone of origin: GTO sees every promotion and rollback.
    clone = repo.parent / "clone"
    run(["git", "clone", "-q", str(repo.parent / "origin.git"), str(clone)], repo.parent, env)
    shown = gto.api.show(str(clone))
    assert shown[name]["version"] == "v1.1.0"
    assert shown[name]["stage"]["prod"] == "v1.1.0"
    events = gto.api.history(str(clone), name)
    assigned = sorted((e["ref"], e["commit"]) for e in events if e["event"] == "assignment")
    assert assigned == [
        (f"{name}#prod#1", c1),
        (f"{name}#prod#2", c2),
        (f"{name}#prod#3", c1),
        (f"{name}#prod#4", c2),
    ]
    assert c3 not in git_out(clone, env, "tag", "--points-at", c3)
    message = git_out(clone, env, "tag", "-l", "--format=%(contents)", f"{name}@v1.1.0")
    assert f"# Model card: {name} v2" in message
    rolled = git_out(clone, env, "tag", "-l", "--format=%(contents)", f"{name}#prod#3")
    assert reason in rolled

    # 8. `gitops-ml registry` shows the state and the history.
    table = run(["gitops-ml", "registry"], repo, env).stdout
    assert "- champion: v2" in table
    assert "- challenger: v3" in table
    assert f"| rollback | v1 | v2 | {reason} |" in table


@pytest.mark.slow
def test_racing_promotions_leave_consistent_aliases(
    make_repo: Callable[[], Path], env: dict[str, str]
) -> None:
    """Two `gitops-ml promote` processes from two clones at once: they serialise on the lock,
    each sees the other's result, and aliases, history and origin's tags agree."""
    a = make_repo()
    b = make_repo()
    # Two merges in a row: B on top of A, both on main (only merged commits are promoted).
    commits = {"a": build_variant(a, env, "Variant A", **WEAK)}
    git_out(b, env, "pull", "-q", "--ff-only", "origin", "main")
    commits["b"] = build_variant(b, env, "Variant B", **BETTER)
    git_out(a, env, "fetch", "-q", "origin")
    procs = {
        key: subprocess.Popen(
            [str(BIN / "gitops-ml"), "promote"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, repo in (("a", a), ("b", b))
    }
    outputs = {key: proc.communicate(timeout=600) for key, proc in procs.items()}
    for key, proc in procs.items():
        assert proc.returncode == 0, outputs[key]

    name = load_params(a / "params.yaml").registry.model_name
    reg = ModelRegistry(name, env["MLFLOW_TRACKING_URI"])
    events = reg.events()
    assert len(events) == 2
    assert {e["commit"] for e in events} == set(commits.values())
    # The second decision was made against the result of the first (no lost update).
    first, second = events
    assert first["action"] == "promote"
    assert first["from"] is None
    assert second["from"] == first["version"]
    champion = first["version"] if second["action"] == "reject" else second["version"]
    aliases = reg.aliases()
    assert aliases[CHAMPION] == champion
    assert aliases[f"champion-v{first['version']}"] == first["version"]
    if second["action"] == "promote":
        assert aliases[PREVIOUS] == first["version"]
    # origin holds one prod assignment per promotion, the last one on the champion's commit.
    tags = tags_of(a.parent / "origin.git", env)
    promotions = [e for e in events if e["action"] == "promote"]
    prod = sorted(tag for tag in tags if "#prod#" in tag)
    assert prod == [f"{name}#prod#{n}" for n in range(1, len(promotions) + 1)]
    assert tags[prod[-1]] == reg.get(champion).tags["git.commit"]
    assert f"{name}.lock" not in {m.name for m in _registered(env)}


def _registered(env: dict[str, str]) -> list[Any]:
    from mlflow import MlflowClient

    return list(
        MlflowClient(
            env["MLFLOW_TRACKING_URI"], registry_uri=env["MLFLOW_TRACKING_URI"]
        ).search_registered_models()
    )


def test_lock_is_exclusive_and_alias_move_is_compare_and_set(mlflow_server: str) -> None:
    """A second holder waits and then fails naming the first; a stale champion is not moved."""
    reg = ModelRegistry("m-lock-test", mlflow_server)
    held = pytest.raises(UserError, match=r"promotion lock held by .* pid \d+ for more than 1 s")
    with reg.lock(), held, reg.lock(timeout=0.6):
        pass  # pragma: no cover
    with reg.lock(timeout=1):  # released: acquirable again
        pass
    reg.client.create_registered_model("m-lock-test")
    run_id = _empty_run(mlflow_server)
    for _ in range(2):
        reg.client.create_model_version("m-lock-test", f"runs:/{run_id}/model", run_id=run_id)
    reg.move_champion(None, "1")
    reg.move_champion("1", "2")
    with pytest.raises(ConcurrentChangeError, match="champion changed from v1 to v2"):
        reg.move_champion("1", "1")
    assert reg.aliases() == {CHAMPION: "2", PREVIOUS: "1", "champion-v1": "1", "champion-v2": "2"}


def _empty_run(uri: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("lock-test") or None
    exp_id = experiment.experiment_id if experiment else client.create_experiment("lock-test")
    return str(client.create_run(exp_id).info.run_id)


def test_promote_refuses_a_model_that_does_not_match_dvc_lock(
    make_repo: Callable[[], Path], env: dict[str, str]
) -> None:
    """It refuses to register a model file that dvc.lock does not record, saying what to run."""
    repo = make_repo()
    (repo / "models" / "model.skops").write_bytes(b"not the model dvc built")
    done = run(["gitops-ml", "promote"], repo, env, check=False)
    assert done.returncode == 1
    assert "models/model.skops: md5" in done.stderr
    assert "does not match dvc.lock" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (repo / "reports" / "promotion").exists()


def test_rollback_without_champion_or_reason_is_refused(
    mlflow_server: str, params: Params, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollback needs a reason, and a champion to roll back from."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    fresh = params.model_copy(
        update={"registry": params.registry.model_copy(update={"model_name": "m-no-champion"})}
    )
    with pytest.raises(UserError, match="--reason: give the reason"):
        rollback.rollback(tmp_path, fresh, None, "  ")
    with pytest.raises(UserError, match="'m-no-champion' has no champion to roll back"):
        rollback.rollback(tmp_path, fresh, None, "oops")


def test_an_unreachable_registry_is_one_clear_message(
    params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracking server that does not answer gives a message naming its URI, no traceback."""
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(UserError, match=f"MLflow registry at {uri}: "):
        status.read_state(params)


def test_artifacts_yaml_declares_the_registered_model(params: Params) -> None:
    """GTO's artifacts.yaml names the same model as params.yaml's registry section."""
    declared = yaml.safe_load((ROOT / "artifacts.yaml").read_text())
    assert list(declared) == [params.registry.model_name]
    assert declared[params.registry.model_name]["path"] == "models/model.skops"


def test_pull_request_number_from_env_or_commit_message() -> None:
    """It reads PR_NUMBER first, then GitHub's merge and squash commit subjects."""
    assert promotion.pull_request("anything", {"PR_NUMBER": "42"}) == "42"
    assert promotion.pull_request("Merge pull request #7 from me/branch\n\nbody", {}) == "7"
    assert promotion.pull_request("Tune the model (#19)\n\n* detail (#3)", {}) == "19"
    assert promotion.pull_request("Direct push to main", {}) is None


# --- promote.yml and rollback.yml under act, with stand-ins for GitHub ------------------------

WORKFLOWS = ROOT / ".github" / "workflows"


@pytest.mark.slow
def test_promote_workflow_without_a_tracking_server(
    repo_copy: Callable[[], Path], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """On a push to main with no MLflow secret, promote.yml registers in a workspace SQLite
    store, promotes the first model, pushes the GTO tags and releases the model with its card."""
    repo = repo_copy()
    remote = tmp_path / "dvc-remote"
    # The DVC remote only spares the job a full `dvc repro` (it pulls the run-cache instead).
    run(["dvc", "remote", "add", "--local", "ci", str(remote)], repo, tool_env)
    run(["dvc", "push", "-q", "--run-cache", "-r", "ci"], repo, tool_env)
    run(["git", "add", "-A"], repo, tool_env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "Retrain (#5)"], repo, tool_env)
    hub = FakeGitHub.create(tmp_path / "github", repo, tool_env)
    head = hub.sha("refs/heads/main")
    event = push_event(ref="refs/heads/main", before="0" * 40, after=head)

    done = run_workflow(
        WORKFLOWS / "promote.yml", "push", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
        secrets={"DVC_REMOTE_URL": str(remote)},
    )  # fmt: skip
    assert done.job_results == {"promote": "success"}, done.explain()
    name = load_params(repo / "params.yaml").registry.model_name  # the example: churn-classifier
    tags = tags_of(hub.origin, tool_env)
    assert tags == {f"{name}#prod#1": head, f"{name}@v1.0.0": head}
    registry_cache = [c for c in done.calls("cache") if c["inputs"]["key"].startswith("registry-")]
    assert registry_cache[0]["inputs"]["path"].split() == ["mlflow.db", "mlruns"]
    store = json.loads((hub.api / "gh.json").read_text())
    [release] = store["releases"]
    assert release["tag"] == f"{name}@v1.0.0"
    assert release["assets"] == ["model.skops", "model_card.md", "version.json"]
    assert release["notes"].startswith(f"# Model card: {name} v1\n")
    create = [c for c in store["calls"] if c["argv"][:2] == ["release", "create"]]
    assert len(create) == 1
    assert "--verify-tag" in create[0]["argv"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    released = hub.api / "releases" / f"{name}@v1.0.0" / "model.skops"
    assert md5(released) == lock["stages"]["train"]["outs"][0]["md5"]
    assert f"## {name} v1: promoted to champion" in done.summary
    assert "- champion: v1" in done.summary
    decision = json.loads((done.artifact("promotion") / "decision.json").read_text())
    assert decision["promoted"] is True
    assert decision["gto_tags"] == [f"{name}@v1.0.0", f"{name}#prod#1"]


@pytest.mark.slow
def test_promote_workflow_reads_the_bar_from_main_before_the_push(
    repo_copy: Callable[[], Path], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """promote.yml hands the push's `before` to `promote`: a pushed commit that lowers the
    floors (params only, no stage changed) is judged by the floors main had before it."""
    repo = repo_copy()
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "ci", str(remote)], repo, tool_env)
    run(["dvc", "push", "-q", "--run-cache", "-r", "ci"], repo, tool_env)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["gates"]["floors"] = {"roc_auc": 0.99}  # a bar no model of the example clears
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["git", "commit", "-q", "-am", "A strict bar"], repo, tool_env)
    hub = FakeGitHub.create(tmp_path / "github", repo, tool_env)
    before = hub.sha("refs/heads/main")
    raw["gates"]["floors"] = {"roc_auc": 0.5}
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["git", "commit", "-q", "-am", "Lower the bar (#6)"], repo, tool_env)
    run(["git", "push", "-q", "origin", "main"], repo, tool_env)
    head = hub.sha("refs/heads/main")
    event = push_event(ref="refs/heads/main", before=before, after=head)
    done = run_workflow(
        WORKFLOWS / "promote.yml", "push", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
        secrets={"DVC_REMOTE_URL": str(remote)},
    )  # fmt: skip
    assert done.job_results == {"promote": "success"}, done.explain()
    decision = json.loads((done.artifact("promotion") / "decision.json").read_text())
    assert decision["promoted"] is False
    assert decision["reason"].startswith("fails the floors: roc_auc")
    assert decision["bar"]["commit"] == before
    assert decision["bar"]["floors"] == {"roc_auc": 0.99}
    assert tags_of(hub.origin, tool_env) == {}
    assert "not promoted" in done.summary


def test_release_step_publishes_once(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """`promote.sh release` publishes the tag's release with model and card; a re-run of the
    job finds it and publishes nothing twice."""
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path, tool_env)
    run(["git", "init", "-q", "-b", "main", str(work)], tmp_path, tool_env)
    (work / "models").mkdir()
    (work / "models" / "model.skops").write_bytes(b"model")
    (work / "reports" / "promotion").mkdir(parents=True)
    (work / "reports" / "promotion" / "model_card.md").write_text("# Model card: m v1\n")
    (work / "reports" / "promotion" / "version.json").write_text('{"version": "1"}\n')
    run(["git", "commit", "-q", "--allow-empty", "-m", "x"], work, tool_env)
    run(["git", "tag", "-a", "-m", "card", "m@v1.0.0"], work, tool_env)
    run(["git", "push", "-q", str(origin), "--tags"], work, tool_env)
    api = tmp_path / "api"
    api.mkdir()
    env = {
        **tool_env,
        "PATH": f"{STANDINS / 'bin'}:{tool_env['PATH']}",
        "ACT_STANDIN_GITHUB": str(api),
        "ACT_STANDIN_ORIGIN": str(origin),
        "GH_TOKEN": "stand-in-token",
        "TAG": "m@v1.0.0",
    }
    script = str(ROOT / ".github" / "scripts" / "promote.sh")
    run([script, "release"], work, env)
    again = run([script, "release"], work, env)
    assert "already exists" in again.stdout
    store = json.loads((api / "gh.json").read_text())
    assert [r["tag"] for r in store["releases"]] == ["m@v1.0.0"]
    assert store["releases"][0]["assets"] == ["model.skops", "model_card.md", "version.json"]
    missing = run([script, "release"], work, {**env, "TAG": "m@v9.0.0"}, check=False)
    assert missing.returncode == 1
    assert "doesn't exist in the repo" in missing.stderr


def test_unfinished_and_model_less_runs_are_never_registered(
    make_repo: Callable[[], Path], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed while logging the model (RUNNING, no artifacts) and an evaluate-only run
    carry the model file's hash, yet promotion logs the model to a new run and registers that;
    the version is read back from the registry, and its file's hash recorded."""
    repo = make_repo()
    build_variant(repo, env, "A model", **BETTER)
    model_md5 = md5(repo / "models" / "model.skops")
    params = load_params(repo / "params.yaml")
    reg = ModelRegistry(params.registry.model_name, env["MLFLOW_TRACKING_URI"])
    experiment = reg.client.get_experiment_by_name(params.mlflow.experiment)
    exp_id = (
        experiment.experiment_id
        if experiment
        else reg.client.create_experiment(params.mlflow.experiment)
    )
    killed = reg.client.create_run(exp_id, tags={lineage.MODEL_MD5: model_md5}).info.run_id
    evaluated = reg.client.create_run(exp_id, tags={lineage.MODEL_MD5: model_md5}).info.run_id
    reg.client.log_metric(evaluated, "roc_auc", 0.9)
    reg.client.set_terminated(evaluated)
    outcome = promote_here(repo, monkeypatch)
    version = reg.get(outcome.version)
    assert version.run_id not in (killed, evaluated)
    assert reg.client.get_run(version.run_id).info.status == "FINISHED"
    loaded = model_source.fetch(f"models:/{reg.name}/{version.version}")
    assert version.tags[lineage.ARTIFACT_SHA256] == loaded.sha256
