"""The reproduction of a pull request, packed for the judge: what CI reproduced, as files.

In CI the pull request's code reproduces its pipeline in one job, and the base's code judges
the result in another that runs nothing of the pull request (docs/pull-requests.md). This is
what passes between them, in the workspace's own layout so the report reads it like a
workspace: params.yaml, dvc.lock, eval/ (without the PNGs), the model, the test split and its
schema, the training split's row keys (for leakage), and what `dvc status` said after the run.
All of it was written by the pull request's code: the judge reads it as untrusted data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from gitops_ml.core.errors import UserError
from gitops_ml.core.schema import ROW_KEY
from gitops_ml.infra.dvc_lock import LOCK
from gitops_ml.infra.files import write_json
from gitops_ml.review import reproducibility
from gitops_ml.review.rescoring import MODEL, PREPARED, SCHEMA, TEST, TRAIN, TRAIN_KEYS

STATUS = "dvc-status.json"
PULL_REQUEST = "pull-request.json"
# The PNGs are the judge's to draw; the pull request's own are not needed.
SKIPPED = ("figures",)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def pack(root: Path, out: Path, *, params: str, eval_dir: str, pull_request: int | None) -> None:
    """Write the reproduction under `out` (emptied first); UserError when a part is missing."""
    needed = [params, LOCK, f"{eval_dir}/metrics.json", MODEL, f"{PREPARED}/{TEST}"]
    needed += [f"{PREPARED}/{SCHEMA}", f"{PREPARED}/{TRAIN}"]
    missing = [rel for rel in needed if not (root / rel).is_file()]
    if missing:
        raise UserError(f"nothing to pack: {', '.join(missing)} not found; run `dvc repro` first")
    status, error = reproducibility.finish_dvc_status(reproducibility.start_dvc_status(root))
    if out.exists():
        shutil.rmtree(out)
    for rel in [params, LOCK, MODEL, f"{PREPARED}/{TEST}", f"{PREPARED}/{SCHEMA}"]:
        _copy(root / rel, out / rel)
    for path in sorted((root / eval_dir).rglob("*")):
        rel_path = path.relative_to(root / eval_dir)
        if path.is_file() and rel_path.parts[0] not in SKIPPED:
            _copy(path, out / eval_dir / rel_path)
    keys = pd.read_parquet(root / PREPARED / TRAIN, columns=[ROW_KEY])
    (out / PREPARED).mkdir(parents=True, exist_ok=True)
    keys.to_parquet(out / PREPARED / TRAIN_KEYS, index=False)
    write_json(out / STATUS, {"status": status, "error": error})
    write_json(out / PULL_REQUEST, {"number": pull_request})


def read_status(source: Path) -> tuple[dict[str, Any] | None, str]:
    """What `dvc status --json` said in the reproduction, or None and why it is not known."""
    path = source / STATUS
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"the reproduction holds no {STATUS}"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, f"{STATUS} in the reproduction is not JSON"
    status = recorded.get("status") if isinstance(recorded, dict) else None
    if not isinstance(status, dict):
        error = recorded.get("error") if isinstance(recorded, dict) else None
        return None, str(error or f"{STATUS} in the reproduction holds no status")
    return status, ""
