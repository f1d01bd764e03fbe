"""The two sides of a review: the base revision, read from git (never checked out), and this
workspace, read from disk; each as metrics, params, plot data and dvc.lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gitops_ml.core import predictions
from gitops_ml.core.errors import UserError
from gitops_ml.core.yaml12 import parse_yaml
from gitops_ml.infra import dvc_lock, git
from gitops_ml.infra.dvc_lock import LOCK
from gitops_ml.infra.files import md5

PLOTS = ("roc", "prc", "calibration", "confusion", "importance")
DEFAULT_BASES = ("origin/main", "main")


@dataclass(frozen=True)
class Side:
    """What one revision holds: metrics, raw params, plot data and dvc.lock (None if absent)."""

    sha: str
    metrics: dict[str, Any] | None
    params: dict[str, Any] | None
    plots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None
    timings: dict[str, Any] | None = None


@dataclass(frozen=True)
class RawData:
    """The raw data file of one side as far as it is known: path, md5 and size in bytes."""

    path: str | None
    md5: str | None
    size: int | None


@dataclass(frozen=True)
class Files:
    """Repository-relative paths of what the report reads, on both sides."""

    params: str
    eval_dir: str

    @property
    def metrics(self) -> str:
        """The metrics file."""
        return f"{self.eval_dir}/metrics.json"

    def plot(self, name: str) -> str:
        """The data file of one plot."""
        return f"{self.eval_dir}/plots/{name}.json"

    @property
    def predictions(self) -> str:
        """The held-out predictions."""
        return f"{self.eval_dir}/predictions.csv"

    @property
    def timings(self) -> str:
        """What each stage cost, when recorded."""
        return f"{self.eval_dir}/timings.json"


def raw_data(params: Mapping[str, Any] | None, lock: Mapping[str, Any] | None) -> RawData:
    """The raw data file a side's params name, with the md5 and size its dvc.lock recorded."""
    path = ((params or {}).get("data") or {}).get("raw")
    if path is None or not lock:
        return RawData(path, None, None)
    for entry in dvc_lock.entries(lock, "prepare", "deps"):
        if entry.get("path") == path:
            return RawData(path, entry.get("md5"), entry.get("size"))
    return RawData(path, None, None)


# ---------------------------------------------------------------- git revisions


def repository_root(cwd: Path) -> Path:
    """Root of the git work tree containing `cwd`; UserError outside one."""
    root = git.top_level(cwd)
    if root is None:
        raise UserError(f"{cwd}: not inside a git repository; the report compares git revisions")
    return root


def commit_sha(rev: str, cwd: Path) -> str:
    """Full SHA of the commit `rev` names; UserError when it names none."""
    sha = git.resolve_commit(cwd, rev)
    if sha is None:
        raise UserError(f"--base {rev}: no such commit in the git repository at {cwd}")
    return sha


def default_base(cwd: Path) -> str:
    """The merge base of HEAD with origin's default branch (origin/HEAD), else origin/main,
    else main; UserError when none shares history with HEAD."""
    remote_default = git.query(cwd, "rev-parse", "--abbrev-ref", "origin/HEAD")
    candidates = [remote_default] if remote_default and remote_default != "origin/HEAD" else []
    for ref in dict.fromkeys([*candidates, *DEFAULT_BASES]):
        found = git.query(cwd, "merge-base", "HEAD", ref)
        if found:
            return found
    raise UserError(
        f"no base revision: neither {' nor '.join(DEFAULT_BASES)} shares history with HEAD "
        "here; pass --base REV (in CI, check out with full history: fetch-depth: 0)"
    )


def parse(text: str | None, where: str, kind: str) -> Any:
    """JSON or YAML text of a side's file (None for an absent one); UserError naming `where`."""
    if text is None:
        return None
    if kind == "yaml":
        return parse_yaml(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON: {exc}") from None


def read_revisions(root: Path, base_sha: str, head_sha: str, files: Files) -> tuple[Side, Any, Any]:
    """The base's Side, and the dvc.lock and metrics committed at HEAD, in one git call."""
    specs = [(base_sha, files.params), (base_sha, LOCK), (base_sha, files.metrics)]
    specs += [(base_sha, files.plot(name)) for name in PLOTS]
    specs += [(base_sha, files.predictions), (base_sha, files.timings)]
    specs += [(head_sha, LOCK), (head_sha, files.metrics)]
    texts = git.read_files(root, specs)
    label = base_sha[:7]
    base_params = parse(texts[0], f"{label}:{files.params}", "yaml")
    base = Side(
        sha=base_sha,
        params=base_params if isinstance(base_params, dict) else None,
        lock=dvc_lock.parse_lock(texts[1], f"{label}:{LOCK}"),
        metrics=parse(texts[2], f"{label}:{files.metrics}", "json"),
        plots={
            name: parse(text, f"{label}:{files.plot(name)}", "json")
            for name, text in zip(PLOTS, texts[3 : 3 + len(PLOTS)], strict=True)
            if text is not None
        },
        predictions=_predictions(texts[3 + len(PLOTS)], f"{label}:{files.predictions}"),
        timings=parse(texts[4 + len(PLOTS)], f"{label}:{files.timings}", "json"),
    )
    committed_lock = dvc_lock.parse_lock(texts[-2], f"HEAD:{LOCK}")
    committed_metrics = parse(texts[-1], f"HEAD:{files.metrics}", "json")
    return base, committed_lock, committed_metrics


# ---------------------------------------------------------------- the workspace


def _read_workspace(path: Path, kind: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse(text, str(path), kind)


def _predictions(text: str | None, where: str) -> pd.DataFrame | None:
    return None if text is None else predictions.from_csv(text, where)


def read_workspace(root: Path, head_sha: str, files: Files) -> Side:
    """This workspace as a Side (its sha is HEAD's); UserError when it has no metrics."""
    metrics = _read_workspace(root / files.metrics, "json")
    if metrics is None:
        raise UserError(f"{files.metrics}: not found; run `dvc repro` before the report")
    lock = _read_workspace(root / LOCK, "yaml")
    held_out = root / files.predictions
    return Side(
        sha=head_sha,
        metrics=metrics,
        params=_read_workspace(root / files.params, "yaml"),
        lock=lock if isinstance(lock, dict) or lock is None else {},
        plots={
            name: points
            for name in PLOTS
            if (points := _read_workspace(root / files.plot(name), "json")) is not None
        },
        predictions=_predictions(
            held_out.read_text(encoding="utf-8") if held_out.is_file() else None,
            files.predictions,
        ),
        timings=_read_workspace(root / files.timings, "json"),
    )


def raw_file(root: Path, raw_path: str) -> RawData:
    """The workspace's raw data file, hashed."""
    path = root / raw_path
    if not path.is_file():
        return RawData(raw_path, None, None)
    return RawData(raw_path, md5(path), path.stat().st_size)
