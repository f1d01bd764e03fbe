"""Where a model came from, in one vocabulary of MLflow tags: git commit, data hashes, model hash.

Runs (train, evaluate) and registered versions (promote) carry the same names for the same
facts, and the commands that read lineage (serve's /metadata, promote, rollback, registry)
read them here. Versions registered by earlier releases used other names for two of them: those
are still read, never written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_ml.infra import dvc_lock, git
from gitops_ml.infra.files import md5

COMMIT = "git.commit"
BRANCH = "git.branch"
DIRTY = "git.dirty"
MODEL_MD5 = "gitops_ml.model_md5"  # md5 of the model file, as dvc.lock records it
# Versions: SHA-256 of the registered skops file, recorded by `promote` after reading it back from
# the registry; every later load of the version checks it (infra/model_source).
ARTIFACT_SHA256 = "gitops_ml.artifact_sha256"
EXPERIMENT = "dvc.experiment"  # the DVC experiment that ran the stage, if any
DATA_PREFIX = "data.md5."  # + path of a prepared split
PREPARE_PREFIX = "dvc.prepare."  # + path of a dependency of the prepare stage
# Versions: what dvc.lock recorded at the registered commit, and the pull request it merged.
DATA = "dvc.data.md5"
PREPARED = "dvc.prepared.md5"
MODEL = "dvc.model.md5"
PARAMS = "dvc.params.md5"
REQUIREMENTS = "requirements.md5"
PULL_REQUEST = "pr"
# Versions: SHA-256 of the model file as `train` wrote it (the file a GitHub Release carries; the
# registry's own copy is re-serialized by MLflow and has ARTIFACT_SHA256).
MODEL_SHA256 = "gitops_ml.model_sha256"
# Versions: what serving needs besides the model and its schema (which the model's MLmodel
# metadata carries): the decision threshold, and the test-set metrics, one tag per metric.
THRESHOLD = "gitops_ml.threshold"
METRIC_PREFIX = "metrics."
# Names written by earlier releases, read as their current name.
_LEGACY = {COMMIT: "git_sha", MODEL_MD5: "model_md5"}


def read(tags: Mapping[str, str], name: str) -> str | None:
    """A lineage tag by its current name, falling back to the name earlier releases wrote."""
    value = tags.get(name)
    if value is None and name in _LEGACY:
        value = tags.get(_LEGACY[name])
    return value


def names_of(name: str) -> tuple[str, ...]:
    """Every name a tag has been written under, current first (for registry searches)."""
    return (name, _LEGACY[name]) if name in _LEGACY else (name,)


def git_tags(repo: Path) -> dict[str, str]:
    """The commit, branch and whether tracked files differ from it."""
    return {
        COMMIT: git.head_commit(repo) or "unknown",
        BRANCH: git.branch(repo) or "unknown",
        DIRTY: str(git.dirty(repo)).lower(),
    }


def run_tags(repo: Path, lock: Mapping[str, Any], data_files: list[Path]) -> dict[str, str]:
    """Tags that tie a run to its code and data: commit, branch, data hashes, DVC experiment."""
    tags = git_tags(repo)
    for dep in dvc_lock.entries(lock, "prepare", "deps"):
        if dep.get("md5"):
            tags[f"{PREPARE_PREFIX}{dep['path']}"] = str(dep["md5"])
    for path in data_files:
        tags[f"{DATA_PREFIX}{path.as_posix()}"] = md5(path)
    # Set by DVC in `dvc exp run`: joins this run with its row in `dvc exp show`.
    if os.environ.get("DVC_EXP_NAME"):
        tags[EXPERIMENT] = os.environ["DVC_EXP_NAME"]
    return tags


def data_hashes(tags: Mapping[str, str]) -> dict[str, str]:
    """The data hashes among a run's or a version's tags."""
    return {
        k: v
        for k, v in tags.items()
        if k.startswith((DATA_PREFIX, PREPARE_PREFIX)) or k in (DATA, PREPARED)
    }


def metrics(tags: Mapping[str, str]) -> dict[str, float]:
    """The metrics a version carries as tags (`metrics.<name>`), as numbers."""
    out: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                out[key.removeprefix(METRIC_PREFIX)] = float(value)
            except ValueError:
                continue  # not a number: not a metric this package wrote
    return out
