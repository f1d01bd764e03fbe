"""The repository init works in: its checks, its uncommitted work, its DVC remote, and DVC run
as a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dvc.config import Config

from gitops_ml.core.errors import UserError
from gitops_ml.infra import git
from gitops_ml.infra.tracking import FROM_PARAMS_ENV
from gitops_ml.template.settings import Remote


@dataclass(frozen=True)
class RemoteState:
    """The default DVC remote of .dvc/config, if any."""

    name: str
    remote: Remote


def run_dvc(root: Path, *args: str, quiet: bool = True) -> None:
    """Run a DVC command in `root`; UserError with DVC's message when it fails."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    if env.pop(FROM_PARAMS_ENV, None):
        # Exported from the params.yaml init is rewriting: the stages must read the new one.
        env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(
        cmd, cwd=root, env=env, capture_output=quiet, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        detail = f": {(done.stderr or done.stdout or '').strip()}" if quiet else " (output above)"
        raise UserError(f"dvc {' '.join(args)} failed{detail}")


def check_repository(root: Path) -> None:
    """The working directory must be the top of a git repository holding the project."""
    top = git.top_level(root)
    if top is None:
        raise UserError(f"{root}: not a git repository; run init in a clone of the template")
    if top.resolve() != root.resolve():
        raise UserError(f"{root}: run init from the repository's top directory {top}")
    for name in ("params.yaml", "dvc.yaml", "artifacts.yaml"):
        if not (root / name).is_file():
            raise UserError(f"{root / name}: not found; run init in a clone of the template")


def uncommitted(root: Path, allowed: str | None) -> list[str]:
    """Paths with uncommitted changes (untracked included), except the new dataset itself.

    The dataset is excused only while untracked: a modified tracked file is the user's work,
    which an undo (a checkout of the last commit) would lose.
    """
    out = git.git(root, "status", "--porcelain", "--untracked-files=all")
    paths = []
    for line in out.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if line and not (line.startswith("??") and path == allowed):
            paths.append(path)
    return paths


def current_remote(root: Path) -> RemoteState | None:
    """The default remote of the project's .dvc/config (not config.local)."""
    conf = Config(dvc_dir=str(root / ".dvc"), validate=False).load_one("repo")
    name = conf.get("core", {}).get("remote")
    entry = conf.get("remote", {}).get(name) if name else None
    if not entry or "url" not in entry:
        return None
    url = str(entry["url"])
    if "://" not in url and not Path(url).is_absolute():
        url = str((root / ".dvc" / url).resolve())
    return RemoteState(str(name), Remote(url=url, endpoint=entry.get("endpointurl")))


def git_tracked(root: Path, rel: str) -> bool:
    """Whether git tracks the file."""
    return git.query(root, "ls-files", "--", rel) is not None


def relative(path: Path, root: Path) -> str | None:
    """`path` relative to `root` (POSIX), or None when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None
