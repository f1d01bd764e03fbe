"""Git is the registry of record when there is no tracking server: a store that lost the model is
refused by promote and rollback, and rebuilt from origin's GTO tags and the releases' files.

Real parts: `promote` and `rollback` (in-process and as the CLI), SQLite stores, git with a bare
origin, and the release step of promote.sh publishing through the `gh` stand-in (GitHub's API
cannot exist here), which `registry --rebuild` downloads from with the same stand-in.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.errors import RegistryError, UserError
from gitops_ml.core.params import load_params
from gitops_ml.infra import lineage, model_source
from gitops_ml.infra.files import sha256_bytes
from gitops_ml.infra.model_files import load_model
from gitops_ml.release import git_record, rebuild, rollback, status
from gitops_ml.release.registry import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PREVIOUS,
    ModelRegistry,
)
from gitops_ml.serving import batch

from ..conftest import BIN, ROOT, run
from ..support.promotion import build_variant, promote_here, tags_of
from ..workflows.act import STANDINS

pytestmark = pytest.mark.slow

SCRIPT = ROOT / ".github" / "scripts" / "promote.sh"
WEAK = {"max_iter": 20, "max_leaf_nodes": 2}
WORSE = {"max_iter": 3, "max_leaf_nodes": 4}
BETTER = {"max_iter": 30, "max_leaf_nodes": 8, "learning_rate": 0.1}
BEST = {"max_iter": 60, "max_leaf_nodes": 8, "learning_rate": 0.1}


@pytest.fixture
def registry_uri(tmp_path: Path) -> str:
    """The first store: the SQLite file a cache would keep."""
    return f"sqlite:///{tmp_path / 'cached' / 'mlflow.db'}"


def _gh_env(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    api = tmp_path / "api"
    api.mkdir(exist_ok=True)
    return {
        **env,
        "PATH": f"{STANDINS / 'bin'}:{env['PATH']}",
        "ACT_STANDIN_GITHUB": str(api),
        "ACT_STANDIN_ORIGIN": str(tmp_path / "origin.git"),
        "GH_TOKEN": "stand-in-token",
    }


def _release(repo: Path, gh_env: dict[str, str], tag: str) -> None:
    """Publish the promotion's release as promote.yml does (promote.sh release)."""
    run([str(SCRIPT), "release"], repo, {**gh_env, "TAG": tag})


def _use_store(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    uri = f"sqlite:///{path}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.mark.example_data  # the variants' order of quality holds on the example
def test_a_lost_registry_is_refused_then_rebuilt_from_tags_and_releases(
    make_repo: Callable[[], Path],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """v1 promoted, v2 rejected, v3 promoted, then rolled back to v1; in a new store, promote
    and rollback refuse; the rebuild (killed once, then run again) restores v1 and v3 with
    their numbers, cards, tags, aliases and history, serves v1 as its released file, and the
    next promotion is v4, judged against v1."""
    repo = make_repo()
    gh_env = _gh_env(tmp_path, env)
    name = load_params(repo / "params.yaml").registry.model_name
    c1 = build_variant(repo, env, "Weak baseline (#1)", **WEAK)
    first = promote_here(repo, monkeypatch)
    _release(repo, gh_env, first.gto_tags[0])
    # The cache a later job fails to replace: it holds v1 and nothing after.
    stale = tmp_path / "stale" / "mlflow.db"
    stale.parent.mkdir()
    shutil.copy(tmp_path / "cached" / "mlflow.db", stale)
    build_variant(repo, env, "Fewer iterations (#2)", **WORSE)
    assert not promote_here(repo, monkeypatch).decision.promote
    c3 = build_variant(repo, env, "Deeper trees (#3)", **BETTER)
    third = promote_here(repo, monkeypatch)
    assert (third.version, third.decision.promote) == ("3", True)
    _release(repo, gh_env, third.gto_tags[0])
    params = load_params(repo / "params.yaml")
    rollback.rollback(repo, params, "1", "latency")
    cached = ModelRegistry(name, env["MLFLOW_TRACKING_URI"])
    released_v3_card = cached.get("3").description

    # The cache is evicted: a new store, the same origin.
    fresh = _use_store(monkeypatch, tmp_path / "evicted" / "mlflow.db")
    c4 = build_variant(repo, env, "Best so far (#4)", **BEST)
    with pytest.raises(RegistryError, match=r"holds no version of .* record v1, v3.*--rebuild"):
        promote_here(repo, monkeypatch)
    with pytest.raises(RegistryError, match="the store was lost"):
        rollback.rollback(repo, params, None, "oops")
    reg = ModelRegistry(name, fresh)
    assert reg.versions() == []

    # A rebuild killed after its first version is resumed by the next one.
    cli_env = {**gh_env, "MLFLOW_TRACKING_URI": fresh}
    killed = run(
        [str(BIN / "gitops-ml"), "registry", "--rebuild"],
        repo,
        {**cli_env, "GITOPS_ML_FAILPOINT": "rebuild-hash"},
        check=False,
    )
    assert killed.returncode == -9
    done = run([str(BIN / "gitops-ml"), "registry", "--rebuild"], repo, cli_env)
    assert "rebuilt from origin's tags and the releases' files (registered v1, v3)" in done.stdout
    assert "- champion: v1" in done.stdout

    assert [v.version for v in reg.versions()] == ["1", "3"]
    assert reg.aliases() == {
        CHAMPION: "1",
        PREVIOUS: "3",
        CHALLENGER: "3",
        "champion-v1": "1",
        "champion-v3": "3",
    }
    v1, v3 = reg.get("1"), reg.get("3")
    assert (v1.tags[lineage.COMMIT], v3.tags[lineage.COMMIT]) == (c1, c3)
    assert v3.description == released_v3_card
    assert v3.description.startswith(f"# Model card: {name} v3\n")
    assert json.loads(v3.tags[DECISION_TAG])["champion_version"] == "1"
    assert v3.tags[lineage.THRESHOLD] == repr(params.evaluate.threshold)
    assert lineage.ARTIFACT_SHA256 in v3.tags
    history = [(e["action"], e["version"], e["from"]) for e in reg.events()]
    assert history == [("promote", "1", None), ("promote", "3", "1"), ("rollback", "1", "3")]
    assert reg.events()[-1]["reason"] == "latency"

    # The rebuilt champion scores as the model file its release carries.
    released = tmp_path / "api" / "releases" / f"{name}@v1.0.0" / "model.skops"
    source = tmp_path / "batch.csv"
    test = pd.read_parquet(repo / "data" / "prepared" / "test.parquet").head(50)
    test.to_csv(source, index=False)
    batch.run(f"models:/{name}@champion", source, tmp_path / "out.csv", threshold=0.5,
              schema_path=tmp_path / "none.json", progress=False)  # fmt: skip
    scored = pd.read_csv(tmp_path / "out.csv")
    loaded = model_source.load(model_source.resolve(f"models:/{name}@champion"),
                               schema_path=tmp_path / "none.json")  # fmt: skip
    want = load_model(released).predict_proba(test[loaded.schema.features])[:, 1]
    assert np.allclose(scored["probability"], want, rtol=0, atol=1e-9)

    # A second rebuild leaves a store that holds the model alone.
    again = status.show(repo, params, as_json=False, rebuild=True)
    assert "the registry holds every version the tags record" in again

    # A store that lags the tags (it missed v2 and v3) is refused, then brought up to date: its
    # own v1 and history kept, v3 added from its release, the later events appended.
    lagging = _use_store(monkeypatch, stale)
    with pytest.raises(RegistryError, match=r"lacks v3 of .* older than the tags.*--rebuild"):
        promote_here(repo, monkeypatch)
    old = ModelRegistry(name, lagging)
    kept = old.get("1")
    for key in ("PATH", "ACT_STANDIN_GITHUB", "ACT_STANDIN_ORIGIN", "GH_TOKEN"):
        monkeypatch.setenv(key, gh_env[key])
    caught_up = rebuild.rebuild(repo, params)
    assert (caught_up.restored, caught_up.champion) == (["3"], "1")
    assert caught_up.note.startswith("brought up to date")
    assert [v.version for v in old.versions()] == ["1", "3"]
    assert old.get("1").tags == kept.tags  # its own version, untouched
    assert old.get("3").tags[lineage.COMMIT] == c3
    assert (old.aliases()[CHAMPION], old.aliases()[PREVIOUS]) == ("1", "3")
    history = [(e["action"], e["version"], "rebuilt_from" in e) for e in old.events()]
    assert history == [("promote", "1", False), ("promote", "3", True), ("rollback", "1", True)]
    _use_store(monkeypatch, tmp_path / "evicted" / "mlflow.db")

    # Numbering continues: the next merge is v4, judged against the champion git names.
    fourth = promote_here(repo, monkeypatch)
    assert fourth.version == "4"
    assert fourth.decision.champion_version == "1"
    assert not fourth.decision.reason.startswith("first champion")
    assert reg.get("4").tags[lineage.COMMIT] == c4
    if fourth.decision.promote:
        message = run(["git", "tag", "-l", "--format=%(contents)", fourth.gto_tags[0]], repo, env)
        assert f"# Model card: {name} v4\n" in message.stdout
        assert "Registry-Version: 4" in message.stdout
    tags = tags_of(tmp_path / "origin.git", env)
    assert sorted(t for t in tags if "@" in t)[:2] == [f"{name}@v1.0.0", f"{name}@v1.1.0"]


def test_a_release_file_that_does_not_match_its_tag_is_refused(
    make_repo: Callable[[], Path],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model file replaced on the release after the tag recorded its SHA-256 is never loaded:
    the rebuild stops naming the file and both hashes, and registers nothing."""
    repo = make_repo()
    gh_env = _gh_env(tmp_path, env)
    build_variant(repo, env, "A model", **WEAK)
    outcome = promote_here(repo, monkeypatch)
    _release(repo, gh_env, outcome.gto_tags[0])
    asset = tmp_path / "api" / "releases" / outcome.gto_tags[0] / "model.skops"
    recorded = sha256_bytes(asset.read_bytes())
    other = tmp_path / "other.skops"
    build_variant(repo, env, "Another model", push=False, **BETTER)
    shutil.copy(repo / "models" / "model.skops", other)
    shutil.copy(other, asset)
    fresh = _use_store(monkeypatch, tmp_path / "evicted" / "mlflow.db")
    monkeypatch.setenv("PATH", gh_env["PATH"])
    for key in ("ACT_STANDIN_GITHUB", "ACT_STANDIN_ORIGIN", "GH_TOKEN"):
        monkeypatch.setenv(key, gh_env[key])
    params = load_params(repo / "params.yaml")
    with pytest.raises(RegistryError) as refused:
        rebuild.rebuild(repo, params)
    message = str(refused.value)
    assert f"release {outcome.gto_tags[0]}: refusing its model.skops" in message
    assert recorded in message
    assert sha256_bytes(other.read_bytes()) in message
    assert ModelRegistry(params.registry.model_name, fresh).versions() == []


def _legacy(repo: Path, env: dict[str, str], tag: str) -> None:
    """Rewrite a tag on origin as an earlier release of gitops-ml wrote it: no trailers."""
    message = run(["git", "tag", "-l", "--format=%(contents)", tag], repo, env).stdout
    body, _ = git_record.split_trailers(message)
    commit = run(["git", "rev-parse", f"{tag}^{{commit}}"], repo, env).stdout.strip()
    run(
        ["git", "tag", "-f", "-a", "--cleanup=verbatim", tag, commit, "-m", body.strip()], repo, env
    )
    run(["git", "push", "-q", "-f", "origin", f"refs/tags/{tag}"], repo, env)


@pytest.mark.example_data  # BETTER beats WEAK on the example
def test_versions_git_holds_no_model_of_are_left_out_unless_champion(
    make_repo: Callable[[], Path],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A version whose tag records no release files (written by an earlier release) is left
    out of a rebuild, its number used up, unless it is the champion: then the rebuild stops
    before writing anything, naming it."""
    repo = make_repo()
    gh_env = _gh_env(tmp_path, env)
    for key in ("PATH", "ACT_STANDIN_GITHUB", "ACT_STANDIN_ORIGIN", "GH_TOKEN"):
        monkeypatch.setenv(key, gh_env[key])
    params = load_params(repo / "params.yaml")
    name = params.registry.model_name
    build_variant(repo, env, "Weak baseline (#1)", **WEAK)
    first = promote_here(repo, monkeypatch)
    c2 = build_variant(repo, env, "Deeper trees (#2)", **BETTER)
    second = promote_here(repo, monkeypatch)
    assert (second.version, second.decision.promote) == ("2", True)
    _release(repo, gh_env, second.gto_tags[0])
    for tag in (*first.gto_tags, *second.gto_tags[1:]):
        _legacy(repo, env, tag)

    fresh = _use_store(monkeypatch, tmp_path / "evicted" / "mlflow.db")
    done = rebuild.rebuild(repo, params)
    assert (done.restored, done.champion) == (["2"], "2")
    assert "left out v1 (git holds no copy of its model)" in done.note
    reg = ModelRegistry(name, fresh)
    assert [v.version for v in reg.versions()] == ["2"]
    assert reg.get("2").tags[lineage.COMMIT] == c2
    assert reg.aliases() == {CHAMPION: "2", CHALLENGER: "2", "champion-v2": "2"}
    assert [(e["action"], e["version"]) for e in reg.events()] == [
        ("promote", "1"),
        ("promote", "2"),
    ]
    git_record.check_against_tags(repo, reg)  # the store accounts for every version the tags record
    with pytest.raises(UserError, match="has no previous champion"):
        rollback.rollback(repo, params, None, "v2 is slow")
    with pytest.raises(RegistryError, match=r"has no version '1' \(versions: 2\)"):
        rollback.rollback(repo, params, "1", "v2 is slow")
    # Its number is used: a model registered now would be v3 (registered, then removed here).
    scratch = reg.register(str(reg.get("2").run_id), {})
    assert scratch.version == "3"
    reg.delete(scratch.version)

    # With the champion's own tag rewritten so, there is nothing to serve: refused, no writes.
    _legacy(repo, env, second.gto_tags[0])
    other = _use_store(monkeypatch, tmp_path / "evicted-again" / "mlflow.db")
    with pytest.raises(RegistryError, match=r"make v2 champion .* git holds no copy of its model"):
        rebuild.rebuild(repo, params)
    assert ModelRegistry(name, other).versions() == []
