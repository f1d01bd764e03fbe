"""Where a model came from: git commit and branch, and the hashes DVC recorded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml


def _git(*args: str, cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit, or None outside a git repository."""
    return _git("rev-parse", "HEAD", cwd=cwd)


def git_branch(cwd: Path | None = None) -> str | None:
    """The branch name (GitHub's head ref in a pull request), or None when detached."""
    ref = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME")
    if ref:
        return ref
    name = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    return None if name in (None, "HEAD") else name


def git_message(cwd: Path | None = None) -> str:
    """The full message of the checked-out commit ('' outside a git repository)."""
    return _git("log", "-1", "--format=%B", cwd=cwd) or ""


def git_dirty(cwd: Path | None = None) -> bool:
    """True when tracked files differ from the commit."""
    return bool(_git("status", "--porcelain", "--untracked-files=no", cwd=cwd))


def read_lock(path: Path = Path("dvc.lock")) -> dict[str, Any]:
    """The parsed dvc.lock, or an empty mapping when there is none yet."""
    try:
        lock = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return lock if isinstance(lock, dict) else {}


def lock_hash(lock: dict[str, Any], stage: str, path: str, kind: str = "deps") -> str | None:
    """The md5 that dvc.lock records for `path` among a stage's deps or outs."""
    entries = lock.get("stages", {}).get(stage, {}).get(kind, [])
    for entry in entries:
        if entry.get("path") == path:
            md5 = entry.get("md5")
            return str(md5) if md5 else None
    return None
