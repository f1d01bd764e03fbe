"""The registry's record in git: trailers on GTO's tags, the version manifest, and the check that
refuses a store that lost what the tags record."""

from __future__ import annotations

from pathlib import Path

import gto.api
import pytest
import yaml

from gitops_ml.core.errors import RegistryError
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.release import git_record

from ..conftest import run


def test_trailers_round_trip_and_a_card_without_them_is_left_whole() -> None:
    """Trailers appended to a message read back; a message without any is returned as it is."""
    card = "# Model card: m v3\n\n## Limitations\n\n- one split: noise\n"
    message = git_record.with_trailers(card, {git_record.VERSION_KEY: "3", "Model-SHA256": "ab"})
    body, trailers = git_record.split_trailers(message)
    assert trailers == {"Registry-Version": "3", "Model-SHA256": "ab"}
    assert body == card
    assert git_record.split_trailers(card) == (card, {})


def test_the_manifest_is_the_same_bytes_every_time_and_reads_back() -> None:
    """A version's manifest does not depend on tag order, and parses to what was written."""
    schema = FeatureSchema("y", "yes", "no", ("a",), ("b",), categories={"b": ["x", "z"]})
    one = git_record.manifest("m", "2", {"b": "2", "a": "1"}, schema)
    two = git_record.manifest("m", "2", {"a": "1", "b": "2"}, schema)
    assert one == two
    read = git_record.parse_manifest(one, "version.json")
    assert (read.model, read.version, read.tags) == ("m", "2", {"a": "1", "b": "2"})
    assert read.schema == schema
    assert yaml.safe_load(one)["schema"]["positive_label"] == "yes"
    with pytest.raises(RegistryError, match=r"version\.json: not a version manifest"):
        git_record.parse_manifest(b'{"format": 9}', "version.json")


def _commit(repo: Path, env: dict[str, str], message: str) -> str:
    run(["git", "commit", "-q", "--allow-empty", "-m", message], repo, env)
    return run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()


def test_the_record_is_read_from_gto_tags(
    tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registrations give each version's number, commit, card and hashes; assignments, in the
    order of their number, the champion, what each replaced, the action and the reason."""
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, tool_env[key])  # GTO tags in this process, as the test's author
    repo = tmp_path / "repo"
    run(["git", "init", "-q", "-b", "main", str(repo)], tmp_path, tool_env)
    (repo / "artifacts.yaml").write_text("m:\n  type: model\n  path: models/model.skops\n")
    c1 = _commit(repo, tool_env, "one")
    c3 = _commit(repo, tool_env, "three")
    card1 = "# Model card: m v1\n\ntext\n"
    card3 = "# Model card: m v3\n\ntext\n"
    trailers = {git_record.MODEL_KEY: "aa", git_record.MANIFEST_KEY: "bb"}
    for commit, version, card, number in ((c1, "v1.0.0", card1, "1"), (c3, "v1.1.0", card3, "3")):
        message = git_record.with_trailers(card, {git_record.VERSION_KEY: number, **trailers})
        gto.api.register(str(repo), "m", ref=commit, version=version, message=message)
    assigned = [
        ("v1.0.0", "Promote m v1 (v1.0.0) to prod: first champion", {"promote": "1"}),
        ("v1.1.0", "Promote m v3 (v1.1.0) to prod: better", {"promote": "3", "from": "1"}),
        (
            "v1.0.0",
            "Rollback of m from v3 to v1 (v1.0.0): p99 latency",
            {"rollback": "1", "from": "3"},
        ),
    ]
    for version, subject, facts in assigned:
        action = next(k for k in facts if k != "from")
        keys = {git_record.ACTION_KEY: action, git_record.VERSION_KEY: facts[action]}
        if "from" in facts:
            keys[git_record.FROM_KEY] = facts["from"]
        message = git_record.with_trailers(subject, keys)
        gto.api.assign(str(repo), "m", "prod", version=version, message=message, force=True)
    record = git_record.read(repo, "m")
    assert list(record.versions) == ["1", "3"]
    three = record.versions["3"]
    assert (three.tag, three.commit, three.card) == ("m@v1.1.0", c3, card3)
    assert (three.model_sha256, three.manifest_sha256) == ("aa", "bb")
    story = [(a.tag, a.action, a.version, a.replaced, a.reason) for a in record.assignments]
    assert story == [
        ("m#prod#1", "promote", "1", None, "first champion"),
        ("m#prod#2", "promote", "3", "1", "better"),
        ("m#prod#3", "rollback", "1", "3", "p99 latency"),
    ]
    assert record.champion == "1"


def test_a_store_that_lost_lags_or_diverged_from_the_tags_is_refused() -> None:
    """No version at all, versions newer than the store's own, one missing below a version it
    holds, and one at another commit each get their own message; only the first two are what a
    rebuild can add."""
    v1 = git_record.RecordedVersion("1", "m@v1.0.0", "c1" * 20, "card", None, None)
    v3 = git_record.RecordedVersion("3", "m@v1.1.0", "c3" * 20, "card", None, None)
    record = git_record.GitRecord(versions={"1": v1, "3": v3})
    with pytest.raises(RegistryError, match=r"holds no version of 'm', but .* record v1, v3"):
        git_record.check_store(record, {}, "m", "sqlite:///x.db")
    assert git_record.missing_from(record, {}, "m", "u") == [v1, v3]
    lagging = r"lacks v3 of 'm', which origin's tags record \(m@v1.1.0 first\): .* older"
    with pytest.raises(RegistryError, match=lagging):
        git_record.check_store(record, {"1": v1.commit}, "m", "sqlite:///x.db")
    assert git_record.missing_from(record, {"1": v1.commit, "2": "ee" * 20}, "m", "u") == [v3]
    hole = r"holds v3 of 'm' but not v1, which origin's tag m@v1.0.0 records"
    with pytest.raises(RegistryError, match=hole):
        git_record.missing_from(record, {"3": v3.commit}, "m", "sqlite:///x.db")
    diverged = r"holds v3 of 'm' built at ffffffffffff, .* records v3 at c3c3c3c3c3c3"
    with pytest.raises(RegistryError, match=diverged):
        git_record.check_store(record, {"1": v1.commit, "3": "ff" * 20}, "m", "sqlite:///x.db")
    git_record.check_store(record, {"1": v1.commit, "2": "ee" * 20, "3": v3.commit}, "m", "u")


def test_a_directory_outside_git_records_nothing(tmp_path: Path) -> None:
    """Outside a git repository there are no tags: the record is empty, not an error."""
    assert git_record.read(tmp_path, "m") == git_record.GitRecord()
