"""Time `gitops-ml report` on the default data: on the workspace, and as the judge in CI runs it.

The workspace report reads the results as `evaluate` wrote them and draws no PNGs unless asked
(`--figures`, timed too: matplotlib's import is most of that); the judge's (`report --branch-dir`
on a packed reproduction) draws them, and also loads the model through the strict loader and
re-scores it, which costs the skops and scikit-learn imports.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from common import BIN, ROOT, Result, env, timed

TARGET_S = 0.8


def run(size: str) -> list[Result]:
    """Best of three wall times of each report, comparing the project's results with HEAD."""
    del size  # the report reads metrics and plot data, whose size does not grow with the data
    if not (ROOT / "eval" / "metrics.json").is_file():
        return [
            Result("report (default data)", "skipped", note="no eval/metrics.json: run `make run`")
        ]
    report = [str(BIN / "gitops-ml"), "report", "--base", "HEAD"]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out, packed = Path(tmp) / "out", Path(tmp) / "reproduction"
        workspace = timed([*report, "--out", str(out)], ROOT, repeat=3)
        drawn = timed([*report, "--figures", "--out", str(out)], ROOT, repeat=3)
        subprocess.run(
            [str(BIN / "gitops-ml"), "pack-reproduction", "--out", str(packed)],
            cwd=ROOT,
            env=env(),
            check=True,
            capture_output=True,
        )
        judge = timed([*report, "--branch-dir", str(packed), "--out", str(out)], ROOT, repeat=3)
    return [
        Result(
            "report (default data): `gitops-ml report --base HEAD`",
            f"{workspace:.2f} s",
            target=f"≤ {TARGET_S:g} s",
            ok=workspace <= TARGET_S,
            note="report: wall time of the whole command as a developer runs it, including "
            "`dvc status` (report.md shows the curves as Mermaid charts; no PNGs unless "
            "`--figures`); the judge's also draws the three PNGs, loads the model and re-scores "
            "it (no target).",
        ),
        Result("report with the PNGs: `report --base HEAD --figures`", f"{drawn:.2f} s"),
        Result(
            "report as the judge runs it: `report --branch-dir` (re-scores the model)",
            f"{judge:.2f} s",
        ),
    ]
