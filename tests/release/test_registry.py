"""The registry's lineage vocabulary: versions registered by earlier releases still read."""

from __future__ import annotations

from gitops_ml.infra import lineage
from gitops_ml.release import status
from gitops_ml.release.registry import ModelRegistry

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_lineage_tags_are_read_under_their_current_and_their_earlier_names() -> None:
    """git.commit and gitops_ml.model_md5 are written; git_sha and model_md5 are still read."""
    assert lineage.read({lineage.COMMIT: "a"}, lineage.COMMIT) == "a"
    assert lineage.read({"git_sha": "b"}, lineage.COMMIT) == "b"
    assert lineage.read({"model_md5": "c"}, lineage.MODEL_MD5) == "c"
    assert lineage.read({"git.branch": "main"}, lineage.COMMIT) is None
    assert lineage.names_of(lineage.COMMIT) == ("git.commit", "git_sha")


def test_a_version_tagged_by_an_earlier_release_is_found_by_its_commit(store: str) -> None:
    """A registry written before the vocabulary was one keeps working: promote finds the
    version of a commit, and the registry command shows that commit."""
    reg = ModelRegistry("churn", store)
    reg.client.create_registered_model("churn")
    old = reg.client.create_model_version(
        "churn", source="file:///nowhere/model", tags={"git_sha": COMMIT, "pr": "7"}
    )
    new = reg.client.create_model_version(
        "churn", source="file:///nowhere/model", tags={lineage.COMMIT: "f" * 40}
    )
    found = reg.find_by_commit(COMMIT)
    assert found is not None
    assert found.version == str(old.version)
    assert reg.find_by_commit("f" * 40).version == str(new.version)  # type: ignore[union-attr]
    assert reg.find_by_commit("e" * 40) is None
    page = status.markdown(status.RegistryState("churn", "roc_auc", {}, reg.versions(), []))
    assert f"| v{old.version} | {COMMIT[:10]} | 7 |" in page
