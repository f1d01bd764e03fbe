"""dvc.lock, read as DVC reads it (YAML 1.2): the hashes of what each stage ran from and made."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_ml.core.yaml12 import parse_yaml

LOCK = "dvc.lock"


def parse_lock(text: str | None, where: str) -> dict[str, Any] | None:
    """A dvc.lock's text parsed (None for no text); ParamsError naming `where` if not YAML."""
    if text is None:
        return None
    lock = parse_yaml(text, where)
    return lock if isinstance(lock, dict) else {}


def read_lock(path: Path = Path(LOCK)) -> dict[str, Any]:
    """The parsed dvc.lock, or an empty mapping when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_lock(text, str(path)) or {}


def entries(lock: Mapping[str, Any] | None, stage: str, kind: str) -> list[dict[str, Any]]:
    """A stage's `deps` or `outs` entries (empty when the stage or the lock is absent)."""
    stages = (lock or {}).get("stages") or {}
    return list((stages.get(stage) or {}).get(kind) or [])


def lock_hash(lock: Mapping[str, Any], stage: str, path: str, kind: str = "deps") -> str | None:
    """The md5 that dvc.lock records for `path` among a stage's deps or outs."""
    for entry in entries(lock, stage, kind):
        if entry.get("path") == path:
            md5 = entry.get("md5")
            return str(md5) if md5 else None
    return None
