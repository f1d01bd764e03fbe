"""What a pipeline stage cost: each of its commands' wall time and the peak memory of its process.

When GITOPS_ML_TIMINGS names a JSON file, each stage command records its own cost there (one
entry per command, replaced when it runs again). `make run` and the pull-request job set
it to eval/timings.json, so the report can show what the branch's reproduction cost. It is
neither a DVC output nor committed (.gitignore): timings vary from run to run, and stages
restored from a cache have none.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitops_ml.infra.files import write_json

TIMINGS_ENV = "GITOPS_ML_TIMINGS"


def peak_memory_mb() -> float:
    """The peak resident memory of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def read(path: Path) -> dict[str, dict[str, float]]:
    """The timings recorded in a file (empty when there is none or it is not timings)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def recorded(stage: str, started: float) -> Iterator[None]:
    """Record the stage's cost since `started` (a `time.perf_counter()` reading: the process's
    start, so imports count) in the file GITOPS_ML_TIMINGS names, when the stage succeeds."""
    target = os.environ.get(TIMINGS_ENV)
    yield
    if not target:
        return
    path = Path(target)
    entries = read(path)
    entries[stage] = {
        "wall_seconds": round(time.perf_counter() - started, 2),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    write_json(path, entries)
