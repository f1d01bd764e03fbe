"""The promotion record in git: GTO's annotated tags, pushed to origin.

`<name>@vX.Y.Z` registers the model built at a commit; `<name>#prod#N` assigns a registered
version to production. The tags carry the model card, so `gto show` and `gto history` read the
registry's story from git alone. Both can be repeated: a registration exists once per commit, and
an assignment is not made again when the latest one already assigns that version (a rerun after
a crash between pushing the tags and moving the aliases).
"""

from __future__ import annotations

from pathlib import Path

import gto.api
from gto.registry import GitRegistry

from gitops_ml.core.errors import GitError
from gitops_ml.infra import failpoints, git

STAGE = "prod"


def fetch_tags(repo: Path) -> None:
    """Bring local tags up to date with origin (another promotion may have pushed some)."""
    if git.has_remote(repo):
        git.git(repo, "fetch", "--quiet", "--tags", "--force", "origin")


def _push(repo: Path, tag: str) -> None:
    if not git.has_remote(repo):
        return
    try:
        git.git(repo, "push", "--quiet", "origin", f"refs/tags/{tag}")
    except GitError as exc:
        # Leave no local tag that origin refused: the next run starts from origin's state.
        git.query(repo, "tag", "-d", tag)
        raise GitError(
            f"git push origin {tag} was rejected (did another promotion push first?): {exc}"
        ) from None


def gto_version(repo: Path, name: str, commit: str) -> str | None:
    """The GTO version (vX.Y.Z) registered at a commit, if any."""
    with GitRegistry.from_url(str(repo)) as reg:
        found = reg.find_artifact(name, create_new=True).find_version(commit_hexsha=commit)
    return None if found is None else str(found.version)


def gto_register(repo: Path, name: str, commit: str, message: str) -> str:
    """Tag `<name>@vX.Y.Z` on a commit (once per commit) and push it; return the version."""
    existing = gto_version(repo, name, commit)
    if existing is not None:
        return existing
    with GitRegistry.from_url(str(repo)) as reg:
        latest = reg.find_artifact(name, create_new=True).get_latest_version(registered_only=True)
    event = gto.api.register(
        str(repo),
        name,
        ref=commit,
        version=None if latest else "v1.0.0",
        bump_minor=latest is not None,
        message=message,
    )
    _push(repo, event.tag)
    failpoints.reached("gto-register")
    return str(event.version)


def latest_assignment(repo: Path, name: str) -> tuple[str, str] | None:
    """The latest `<name>#prod#N` tag and the commit it assigns, if any."""
    out = git.query(
        repo, "for-each-ref", "--format=%(refname:short) %(*objectname)", f"refs/tags/{name}#*"
    )
    found: list[tuple[int, str, str]] = []
    for line in (out or "").splitlines():
        tag, _, commit = line.partition(" ")
        stage, _, number = tag.removeprefix(f"{name}#").partition("#")
        if stage == STAGE and number.isdigit():
            found.append((int(number), tag, commit))
    return max(found)[1:] if found else None


def gto_assign(repo: Path, name: str, version: str, message: str) -> str:
    """Tag `<name>#prod#N` assigning a registered version to production (once); push it."""
    latest = latest_assignment(repo, name)
    commit = git.resolve_commit(repo, f"{name}@{version}")
    if latest is not None and commit is not None and latest[1] == commit:
        return latest[0]
    event = gto.api.assign(str(repo), name, STAGE, version=version, message=message, force=True)
    _push(repo, event.tag)
    failpoints.reached("gto-assign")
    return str(event.tag)
