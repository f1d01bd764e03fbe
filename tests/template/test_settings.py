"""init's answers about places and people: where data goes, the DVC remote, code owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_ml.core.errors import UserError
from gitops_ml.template import settings

from ..conftest import ROOT


def test_data_outside_the_repo_is_copied_and_big_data_goes_to_dvc(tmp_path: Path) -> None:
    """A file outside the repo lands in data/raw/; above 2 MB (or when asked) DVC versions it."""
    root = tmp_path / "repo"
    outside = tmp_path / "loans.parquet"
    small, big = 1000, settings.GIT_MAX_BYTES + 1
    assert settings.place_data(outside, root, small, "auto", False) == settings.Placement(
        raw="data/raw/loans.parquet", copy_from=outside, dvc=False
    )
    assert settings.place_data(outside, root, big, "auto", False).dvc is True
    assert settings.place_data(outside, root, big, "git", False).dvc is False
    assert settings.place_data(outside, root, small, "git", True).dvc is True  # already in DVC
    inside = root / "data" / "loans.csv"
    assert settings.place_data(inside, root, small, "dvc", False) == settings.Placement(
        raw="data/loans.csv", copy_from=None, dvc=True
    )
    with pytest.raises(UserError, match=r"cannot live in \.dvc/"):
        settings.place_data(root / ".dvc" / "x.csv", root, small, "auto", False)


# ---------------------------------------------------------------- remote and tracking URI


def test_remotes_are_checked_and_never_hold_credentials(tmp_path: Path) -> None:
    """Local paths become absolute and must be outside the repo; URLs must carry no secret."""
    root = tmp_path / "repo"
    root.mkdir()
    assert settings.parse_remote("none", None, root, tmp_path) is None
    local = settings.parse_remote("store", None, root, tmp_path)
    assert local == settings.Remote(url=str(tmp_path / "store"))
    assert local.scheme == "local"
    s3 = settings.parse_remote("s3://bucket/dvc/", "http://127.0.0.1:9000", root, tmp_path)
    assert s3 == settings.Remote("s3://bucket/dvc", "http://127.0.0.1:9000")
    assert settings.parse_remote("gs://b/p", None, root, tmp_path) == settings.Remote("gs://b/p")
    refused = {
        "repo/cache": "outside the repository",
        "s3://KEY:SECRET@bucket/p": "credentials do not belong in .dvc/config",
        "azure://container/p?sig=abc": "credentials do not belong",
        "https://example.com/dvc": "unsupported scheme 'https'",
        "s3://": "no bucket",
    }
    for text, message in refused.items():
        with pytest.raises(UserError, match=message):
            settings.parse_remote(text, None, root, tmp_path)
    with pytest.raises(UserError, match="s3:// remotes only"):
        settings.parse_remote("gs://b/p", "http://127.0.0.1:9000", root, tmp_path)
    with pytest.raises(UserError, match="credentials"):
        settings.parse_remote("s3://b/p", "http://user:pw@127.0.0.1:9000", root, tmp_path)


def test_owners_are_checked_and_put_on_every_rule_of_codeowners() -> None:
    """GitHub's owner forms pass once each; every rule gets the owners, comments stay as is."""
    assert settings.parse_owners("@acme/ml-team, @jo-doe  ops@acme.io @acme/ml-team") == [
        "@acme/ml-team",
        "@jo-doe",
        "ops@acme.io",
    ]
    for bad in ("acme", "@-jo", "@acme/", "jo@localhost", "@jo doe"):
        with pytest.raises(UserError, match="expected a GitHub @user, @org/team"):
            settings.parse_owners(bad)
    with pytest.raises(UserError, match="at least one owner"):
        settings.parse_owners(" , ")
    text = "# who reviews\n\n/params.yaml   @old/team  @x\n# CI\n/.github/      @old/team\n"
    assert settings.codeowners_owners(text) == ["@old/team", "@x"]
    new = settings.codeowners_with(text, ["@acme/ml", "@jo"])
    assert new == (
        "# who reviews\n\n/params.yaml   @acme/ml @jo\n# CI\n/.github/      @acme/ml @jo\n"
    )
    shipped = (ROOT / settings.CODEOWNERS).read_text(encoding="utf-8")
    replaced = settings.codeowners_with(shipped, ["@acme/ml"])
    assert settings.codeowners_owners(replaced) == ["@acme/ml"]
    comments = [line for line in shipped.splitlines() if line.startswith("#") or not line]
    assert [line for line in replaced.splitlines() if line.startswith("#") or not line] == comments
