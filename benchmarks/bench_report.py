"""Time `gitops-ml report` on the default data: the whole command, as CI runs it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import BIN, ROOT, Result, timed

TARGET_S = 0.8


def run(size: str) -> list[Result]:
    """Best of three wall times of a report comparing the project's workspace with HEAD."""
    del size  # the report reads metrics and plot data, whose size does not grow with the data
    if not (ROOT / "eval" / "metrics.json").is_file():
        return [
            Result("report (default data)", "skipped", note="no eval/metrics.json: run `make run`")
        ]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        seconds = timed(
            [str(BIN / "gitops-ml"), "report", "--base", "HEAD", "--out", str(Path(tmp))],
            ROOT,
            repeat=3,
        )
    return [
        Result(
            "report (default data): `gitops-ml report --base HEAD`",
            f"{seconds:.2f} s",
            target=f"≤ {TARGET_S:g} s",
            ok=seconds <= TARGET_S,
            note="report: wall time of the whole command, including `dvc status` and three PNGs.",
        )
    ]
