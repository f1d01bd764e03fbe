"""A crash at any step of a promotion leaves a registry that a rerun makes consistent.

The real `gitops-ml promote` process is killed with SIGKILL at each of its steps (a failpoint,
`infra/failpoints.py`), then run again; after every rerun the champion loads, no commit has two
versions, every version is decided once, and the aliases, the history and origin's GTO tags tell
the same story. The release step of promote.sh is killed the same way, and its rerun publishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import lineage, model_source
from gitops_ml.infra.files import sha256_bytes
from gitops_ml.release import git_record, git_tags
from gitops_ml.release.promotion import STEPS
from gitops_ml.release.registry import CHAMPION, DECISION_TAG, ModelRegistry

from ..conftest import BIN, ROOT, run
from ..support.promotion import build_variant, git_out
from ..workflows.act import STANDINS

pytestmark = pytest.mark.slow


def _always_promote(repo: Path, env: dict[str, str]) -> None:
    """A bar every variant clears, so that every promotion goes through every step."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["gates"]["floors"] = {"roc_auc": 0.5}
    raw["registry"].update({"margin": 0.0, "noise": 1000.0})
    raw["evaluate"]["bootstrap"] = 10
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    git_out(repo, env, "commit", "-q", "-am", "A bar every variant clears")
    git_out(repo, env, "push", "-q", "origin", "main")


def _promote(repo: Path, env: dict[str, str], step: str | None = None) -> object:
    extra = {"GITOPS_ML_FAILPOINT": step} if step else {}
    return run([str(BIN / "gitops-ml"), "promote"], repo, {**env, **extra}, check=False)


def assert_consistent(reg: ModelRegistry, repo: Path, origin: Path, env: dict[str, str]) -> None:
    """The invariants a promotion keeps, however it was interrupted."""
    versions = reg.versions()
    commits = [lineage.read(v.tags, lineage.COMMIT) for v in versions]
    assert len(commits) == len(set(commits)), f"a commit registered twice: {commits}"
    assert all(DECISION_TAG in v.tags for v in versions), "a version left undecided"
    assert all(lineage.ARTIFACT_SHA256 in v.tags for v in versions), "a version without hash"
    aliases = reg.aliases()
    champion = aliases[CHAMPION]
    assert aliases[f"champion-v{champion}"] == champion
    # The champion loads, through the allow-list and its recorded hash.
    loaded = model_source.load(
        model_source.resolve(f"models:/{reg.name}@champion"),
        schema_path=repo / "data" / "prepared" / "schema.json",
    )
    assert loaded.info.version == champion
    assert isinstance(loaded.schema, FeatureSchema)
    # Git agrees: origin's latest prod assignment is on the champion's commit.
    latest = git_tags.latest_assignment(origin, reg.name)
    assert latest is not None
    assert latest[1] == lineage.read(reg.get(champion).tags, lineage.COMMIT)
    # The history holds each decision once, the last one being the champion's promotion.
    events = reg.events()
    decided = [(e["action"], e["version"]) for e in events]
    assert len(decided) == len(set(decided)), f"an event recorded twice: {decided}"
    assert decided[-1] == ("promote", champion)
    assert all(e["reason"] != "already champion" for e in events)
    promoted = [e for e in events if e["action"] == "promote"]
    assert [e["from"] for e in promoted[1:]] == [e["version"] for e in promoted[:-1]]
    # The lock is released.
    assert not [m for m in reg.client.search_registered_models() if m.name.endswith(".lock")]
    assert git_out(origin, env, "tag", "-l", f"{reg.name}#prod#*").count("\n") + 1 == len(promoted)


def test_a_promotion_killed_at_any_step_is_finished_by_its_rerun(
    make_repo: Callable[[], Path], env: dict[str, str], model_name: str
) -> None:
    """Killed after taking the lock, after each registry write and after each tag push, a
    promotion's rerun takes the dead holder's lock at once and leaves everything consistent."""
    repo = make_repo()
    origin = repo.parent / "origin.git"
    _always_promote(repo, env)
    reg = ModelRegistry(model_name, env["MLFLOW_TRACKING_URI"])
    build_variant(repo, env, "The first champion", max_iter=10, max_leaf_nodes=4)
    first = _promote(repo, env)
    assert first.returncode == 0, first.stderr  # type: ignore[attr-defined]
    assert_consistent(reg, repo, origin, env)
    for number, step in enumerate(STEPS, start=1):
        commit = build_variant(repo, env, f"Variant {number}", max_iter=10 + number)
        if step == "champion-hash":
            # A champion registered before hashes were recorded: promotion records its hash.
            champion = reg.aliases()[CHAMPION]
            reg.client.delete_model_version_tag(model_name, champion, lineage.ARTIFACT_SHA256)
        killed = _promote(repo, env, step)
        assert killed.returncode == -9, (step, killed.stdout, killed.stderr)  # type: ignore[attr-defined]
        again = _promote(repo, env)
        assert again.returncode == 0, (step, again.stderr)  # type: ignore[attr-defined]
        assert "promoted to champion" in again.stdout, (step, again.stdout)  # type: ignore[attr-defined]
        assert reg.get(reg.aliases()[CHAMPION]).tags[lineage.COMMIT] == commit, step
        assert_consistent(reg, repo, origin, env)
    assert len(reg.versions()) == len(STEPS) + 1


def test_a_release_killed_before_publishing_is_published_by_the_rerun(
    make_repo: Callable[[], Path], env: dict[str, str], tmp_path: Path, model_name: str
) -> None:
    """The job killed at its release step, run again (promote, then release), publishes the
    release once, with the model file and its card."""
    repo = make_repo()
    origin = repo.parent / "origin.git"
    build_variant(repo, env, "A champion", max_iter=30, max_leaf_nodes=8, learning_rate=0.1)
    api = tmp_path / "api"
    api.mkdir()
    script = str(ROOT / ".github" / "scripts" / "promote.sh")
    job = {
        **env,
        "PATH": f"{STANDINS / 'bin'}:{env['PATH']}",
        "ACT_STANDIN_GITHUB": str(api),
        "ACT_STANDIN_ORIGIN": str(origin),
        "GH_TOKEN": "stand-in-token",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }

    def tag() -> str:
        decision = json.loads((repo / "reports" / "promotion" / "decision.json").read_text())
        return str(decision["gto_tags"][0])

    run([script, "promote"], repo, job)
    killed = run(
        [script, "release"],
        repo,
        {**job, "TAG": tag(), "GITOPS_ML_FAILPOINT": "release"},
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert (
        not (api / "gh.json").exists() or not json.loads((api / "gh.json").read_text())["releases"]
    )
    again = run([script, "promote"], repo, job)
    assert "rerun: nothing new recorded" in again.stdout
    run([script, "release"], repo, {**job, "TAG": tag()})
    store = json.loads((api / "gh.json").read_text())
    [release] = store["releases"]
    assert release["tag"] == f"{model_name}@v1.0.0"
    assert release["assets"] == ["model.skops", "model_card.md", "version.json"]
    # The rerun wrote the manifest the registration tag pinned before the crash, byte for byte.
    record = git_record.read(repo, model_name).versions["1"]
    released = api / "releases" / release["tag"]
    assert sha256_bytes((released / "version.json").read_bytes()) == record.manifest_sha256
    assert sha256_bytes((released / "model.skops").read_bytes()) == record.model_sha256
