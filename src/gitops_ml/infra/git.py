"""Git, run the one way the package runs it: one timeout, one error, answers as text.

Two kinds of call: `git()` runs a command that must succeed and raises GitError naming it and
what git said; `query()` asks a question whose failure is an answer (no such commit, not a
repository, git not installed) and returns None then.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from gitops_ml.core.errors import GitError

# Long enough for a fetch or push to a busy remote; a hung git never blocks a CI job for good.
TIMEOUT = 120


def _run(cwd: Path, args: Sequence[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise GitError("git: command not found; install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)}: no answer within {TIMEOUT} s") from None


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    """The output of a git command that must succeed; GitError naming it otherwise."""
    return git_bytes(cwd, *args, stdin=stdin).decode()


def git_bytes(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """As `git`, the output as bytes."""
    done = _run(cwd, args, stdin)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {said}")
    return done.stdout


def query(cwd: Path, *args: str) -> str | None:
    """The stripped output of a git question, or None when git says no (or is absent)."""
    try:
        done = _run(cwd, args, None)
    except GitError:
        return None
    out = done.stdout.decode(errors="replace").strip()
    return out if done.returncode == 0 and out else None


def succeeds(cwd: Path, *args: str) -> bool:
    """Whether a git command exits 0 (for yes/no questions such as `cat-file -e`)."""
    try:
        return _run(cwd, args, None).returncode == 0
    except GitError:
        return False


# ---------------------------------------------------------------- the questions asked often


def top_level(cwd: Path) -> Path | None:
    """Root of the git work tree containing `cwd`, or None outside one."""
    out = query(cwd, "rev-parse", "--show-toplevel")
    return Path(out) if out else None


def resolve_commit(cwd: Path, rev: str) -> str | None:
    """Full SHA of the commit `rev` names, or None when it names none."""
    return query(cwd, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")


def head_commit(cwd: Path) -> str | None:
    """The checked-out commit, or None outside a git repository."""
    return query(cwd, "rev-parse", "HEAD")


def branch(cwd: Path) -> str | None:
    """The branch name (GitHub's head ref in a pull request), or None when detached."""
    ref = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME")
    if ref:
        return ref
    name = query(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    return None if name in (None, "HEAD") else name


def message(cwd: Path) -> str:
    """The full message of the checked-out commit ('' outside a git repository)."""
    return query(cwd, "log", "-1", "--format=%B") or ""


def dirty(cwd: Path) -> bool:
    """True when tracked files differ from the commit."""
    return bool(query(cwd, "status", "--porcelain", "--untracked-files=no"))


def changed_files(cwd: Path) -> list[str]:
    """Tracked files whose workspace content differs from HEAD (staged or not)."""
    out = query(cwd, "diff", "--name-only", "--no-renames", "HEAD", "--")
    return out.splitlines() if out else []


def commit_exists(cwd: Path, commit: str) -> bool:
    """True when the commit is in the local repository."""
    return bool(commit) and succeeds(cwd, "cat-file", "-e", f"{commit}^{{commit}}")


def has_remote(cwd: Path, name: str = "origin") -> bool:
    """True when the repository has a remote of that name."""
    return query(cwd, "remote", "get-url", name) is not None


def read_files(cwd: Path, specs: Sequence[tuple[str, str]]) -> list[str | None]:
    """Text of each (revision, path), None where absent, all read with one `git cat-file`."""
    request = "".join(f"{rev}:{path}\n" for rev, path in specs).encode()
    out = git_bytes(cwd, "cat-file", "--batch", stdin=request)
    result: list[str | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if header[-1] in (b"missing", b"ambiguous"):
            result.append(None)
            continue
        size = int(header[2])
        # A tree where a file was expected counts as absent too.
        result.append(out[pos : pos + size].decode("utf-8") if header[1] == b"blob" else None)
        pos += size + 1
    return result
