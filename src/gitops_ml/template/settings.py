"""Checks of init's answers about where things live and who owns them: the dataset's place in
the repository, the DVC remote, the MLflow tracking URI, and the code owners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

from gitops_ml.core.errors import UserError
from gitops_ml.core.params import credentials_in_uri

Track = Literal["auto", "git", "dvc"]
# Above this size a dataset goes under DVC instead of git: the pre-commit hook
# check-added-large-files refuses files over 2048 kB, and git is a poor store for big binaries.
GIT_MAX_BYTES = 2048 * 1024
REMOTE_NAME = "storage"
RAW_DIR = PurePosixPath("data/raw")
CLOUD_SCHEMES = ("s3", "gs", "azure")
CODEOWNERS = ".github/CODEOWNERS"
# The template's stand-in owner: GitHub ignores an owner that does not exist, so until it is
# replaced no review is required.
PLACEHOLDER_OWNER = "@your-org/ml-owners"
# GitHub's forms of a code owner: @user (1-39 letters, digits, inner hyphens), @org/team-slug,
# or the e-mail address of a user.
_OWNER = re.compile(
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?"
    r"|[^@\s]+@[^@\s]+\.[^@\s]+"
)


@dataclass(frozen=True)
class Placement:
    """Where the dataset lives in the repository and how it is versioned."""

    raw: str  # data.raw: repo-relative, POSIX
    copy_from: Path | None  # a file outside the repository, copied to `raw`
    dvc: bool  # versioned by `dvc add` (a .dvc file in git) rather than by git itself


def place_data(
    source: Path,
    root: Path,
    size: int,
    track: Track,
    tracked_by_dvc: bool,
) -> Placement:
    """Decide `data.raw` and the versioning of a dataset given as `source` (absolute)."""
    try:
        rel = PurePosixPath(source.relative_to(root).as_posix())
        copy_from = None
    except ValueError:
        rel = RAW_DIR / source.name
        copy_from = source
    if rel.parts[0] in (".git", ".dvc") or str(rel).startswith("data/prepared"):
        raise UserError(f"{source}: a dataset cannot live in {rel.parts[0]}/; put it in data/raw/")
    dvc = tracked_by_dvc or track == "dvc" or (track == "auto" and size > GIT_MAX_BYTES)
    return Placement(raw=str(rel), copy_from=copy_from, dvc=dvc)


# ---------------------------------------------------------------- DVC remote


@dataclass(frozen=True)
class Remote:
    """A DVC remote as .dvc/config holds it (never with credentials)."""

    url: str
    endpoint: str | None = None

    @property
    def scheme(self) -> str:
        """s3, gs, azure, or local."""
        scheme = urlsplit(self.url).scheme
        return scheme if scheme in CLOUD_SCHEMES else "local"


_NO_CREDENTIALS = (
    "credentials do not belong in .dvc/config (it is committed); set them with "
    "`dvc remote modify --local {name} <option> <value>` (written to .dvc/config.local, "
    "git-ignored) or the cloud's usual environment variables"
)


def parse_remote(text: str, endpoint: str | None, root: Path, cwd: Path) -> Remote | None:
    """Check a --remote answer: none, a local path outside the repo, s3://, gs:// or azure://."""
    text = text.strip()
    if text.lower() in ("", "none"):
        if endpoint:
            raise UserError("--s3-endpoint needs an s3:// remote")
        return None
    hint = _NO_CREDENTIALS.format(name=REMOTE_NAME)
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in CLOUD_SCHEMES:
            raise UserError(
                f"--remote {text}: unsupported scheme {parts.scheme!r}; expected none, a local "
                "path, s3://bucket/path, gs://bucket/path or azure://container/path"
            )
        if not parts.netloc:
            raise UserError(f"--remote {text}: no bucket or container after {parts.scheme}://")
        if "@" in parts.netloc or parts.query or credentials_in_uri(text):
            raise UserError(f"--remote {text}: {hint}")
        if endpoint and parts.scheme != "s3":
            raise UserError("--s3-endpoint applies to s3:// remotes only")
        return Remote(url=text.rstrip("/"), endpoint=_endpoint(endpoint) if endpoint else None)
    if endpoint:
        raise UserError("--s3-endpoint needs an s3:// remote")
    path = Path(text).expanduser()
    path = (path if path.is_absolute() else cwd / path).resolve()
    if path == root or root in path.parents:
        raise UserError(
            f"--remote {path}: a local remote must be outside the repository "
            "(it stores every version of data and models)"
        )
    if path.exists() and not path.is_dir():
        raise UserError(f"--remote {path}: exists and is not a directory")
    return Remote(url=str(path))


def _endpoint(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--s3-endpoint {text}: expected http(s)://host[:port]")
    if "@" in parts.netloc or credentials_in_uri(text):
        raise UserError(f"--s3-endpoint {text}: " + _NO_CREDENTIALS.format(name=REMOTE_NAME))
    return text.rstrip("/")


def parse_tracking_uri(text: str | None) -> str | None:
    """A --tracking-uri answer: None for the local SQLite store, else the URI (checked later)."""
    if text is None or text.strip().lower() in ("", "none", "local"):
        return None
    return text.strip()


# ---------------------------------------------------------------- .github/CODEOWNERS


def parse_owners(text: str) -> list[str]:
    """An --owners answer ("@org/team @user", commas allowed): the owners, checked, once each."""
    owners = [o for o in re.split(r"[\s,]+", text.strip()) if o]
    if not owners:
        raise UserError("--owners: expected at least one owner, e.g. @your-org/ml-team")
    bad = [o for o in owners if not _OWNER.fullmatch(o)]
    if bad:
        raise UserError(
            f"--owners {bad[0]!r}: expected a GitHub @user, @org/team or a user's e-mail address"
        )
    return list(dict.fromkeys(owners))


def _rule(line: str) -> re.Match[str] | None:
    """A CODEOWNERS rule split into its pattern (with the spaces after it) and its owners."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    return re.match(r"(\S+\s+)(\S.*)$", line)


def codeowners_owners(text: str) -> list[str]:
    """The owners named by a CODEOWNERS file's rules, in order, once each."""
    found = [o for line in text.splitlines() if (m := _rule(line)) for o in m[2].split()]
    return list(dict.fromkeys(found))


def codeowners_with(text: str, owners: list[str]) -> str:
    """The CODEOWNERS text with `owners` on every rule; patterns, alignment, comments kept."""
    lines = []
    for line in text.splitlines(keepends=True):
        m = _rule(line.rstrip("\n"))
        end = "\n" if line.endswith("\n") else ""
        lines.append(f"{m[1]}{' '.join(owners)}{end}" if m else line)
    return "".join(lines)
