"""Share pipeline results through a DVC remote so that other clones restore, not recompute.

`dvc repro` saves each stage run in DVC's run-cache, including the outputs marked
`cache: false` (metrics and plot data, which git holds). `dvc push --run-cache` sends the
run-cache entries and the cached outputs, but not those git-tracked ones; a clone that must
restore a stage from the run-cache (no dvc.lock entry for it) then misses them and re-runs the
stage. `push` sends them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc.repo import Repo

from gitops_ml.core.errors import UserError


@dataclass(frozen=True)
class Pushed:
    """What `push` sent: run-cache entries and cached outputs, then git-tracked outputs."""

    dvc_pushed: int
    git_tracked_pushed: int


def _uncached_objects(repo: Any) -> set[Any]:
    """Hashes of the workspace's `cache: false` outputs that the local cache holds.

    A stage run here (and so in the local run-cache) left them there; outputs restored from
    elsewhere have their run-cache entry, if any, on the remote already.
    """
    objects: set[Any] = set()
    for stage in repo.index.stages:
        for out in stage.outs:
            if out.use_cache or not out.hash_info:
                continue
            # Output objects are collected only for cached outputs; ask as if this one were.
            out.use_cache = True
            try:
                for found in out.get_used_objs().values():
                    objects.update(found)
            finally:
                out.use_cache = False
    local = repo.cache.local
    return {h for h in objects if local.exists(h.value)}


def push(root: Path, remote: str | None = None) -> Pushed:
    """`dvc push --run-cache`, plus the `cache: false` outputs that the run-cache needs."""
    where = remote or "the default remote"
    try:
        with Repo(str(root)) as repo:
            pushed = int(repo.push(remote=remote, run_cache=True))
            result = repo.cloud.push(_uncached_objects(repo), remote=remote)
    except Exception as exc:  # the storage library's own errors too (credentials, network)
        raise UserError(f"dvc push to {where} failed: {type(exc).__name__}: {exc}") from exc
    if result.failed:
        names = ", ".join(sorted(h.obj_name or h.value for h in result.failed))
        raise UserError(f"{names}: could not be pushed to {where}")
    return Pushed(pushed, len(result.transferred))
