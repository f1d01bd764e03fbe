"""CLI start-up: `gitops-ml --help` must stay instant (heavy imports are deferred).

Pipeline against bare script, no-op repro and the run-cache are measured per data size by
bench_scale.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import BIN, Result, timed


def run(size: str) -> list[Result]:
    """Best of five wall times of `gitops-ml --help`."""
    del size  # start-up does not depend on the data
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        cli_help = timed([str(BIN / "gitops-ml"), "--help"], Path(tmp), repeat=5)
    return [Result("`gitops-ml --help`", f"{cli_help:.2f} s", "≤ 0.3 s", cli_help <= 0.3)]
