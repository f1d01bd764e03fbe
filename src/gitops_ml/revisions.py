"""Reading files as they are at a git revision, without checking that revision out."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from gitops_ml.errors import UserError

DEFAULT_BASES = ("origin/main", "main")


def _git(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True, timeout=60
        )
    except FileNotFoundError:
        raise UserError("git: command not found; the report compares git revisions") from None
    except subprocess.CalledProcessError:
        return None
    return done.stdout


def commit_sha(rev: str, cwd: Path) -> str:
    """Full SHA of the commit `rev` names; UserError when it names none."""
    out = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd)
    if not out:
        raise UserError(f"--base {rev}: no such commit in the git repository at {cwd}")
    return out.decode().strip()


def default_base(cwd: Path) -> str:
    """The merge base of HEAD with origin/main, else with main; UserError when neither exists."""
    for ref in DEFAULT_BASES:
        out = _git(["merge-base", "HEAD", ref], cwd)
        if out:
            return out.decode().strip()
    raise UserError(
        f"no base revision: neither {' nor '.join(DEFAULT_BASES)} shares history with HEAD "
        "here; pass --base REV (in CI, check out with full history: fetch-depth: 0)"
    )


def read_files(specs: Sequence[tuple[str, str]], cwd: Path) -> list[str | None]:
    """Text of each (revision, path), None where absent, all read with one `git cat-file`."""
    request = "".join(f"{rev}:{path}\n" for rev, path in specs).encode()
    out = _git(["cat-file", "--batch"], cwd, stdin=request)
    if out is None:
        raise UserError(f"git cat-file failed in {cwd}")
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


def uncommitted(cwd: Path) -> list[str]:
    """Tracked files whose workspace content differs from HEAD (staged or not)."""
    out = _git(["diff", "--name-only", "--no-renames", "HEAD", "--"], cwd)
    return out.decode().splitlines() if out else []


def top_level(cwd: Path) -> Path:
    """Root of the git work tree containing `cwd`; UserError outside one."""
    out = _git(["rev-parse", "--show-toplevel"], cwd)
    if not out:
        raise UserError(f"{cwd}: not inside a git repository; the report compares git revisions")
    return Path(out.decode().strip())
