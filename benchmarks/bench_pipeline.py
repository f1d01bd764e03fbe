"""Pipeline overhead: forced `dvc repro` vs a bare script doing the same work; no-op; --help."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import BIN, ROOT, Result, project_copy, timed


def run(size: str) -> list[Result]:
    """Time the bare script, a forced repro, a no-op repro and `gitops-ml --help` side by side."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        repo = project_copy(Path(tmp) / "repo")
        timed([str(BIN / "dvc"), "repro"], repo)  # warm caches; not measured
        bare = timed(
            [
                sys.executable,
                str(ROOT / "benchmarks/bare_pipeline.py"),
                str(repo / "data/raw/telco_churn.csv"),
                str(Path(tmp) / "bare"),
            ],
            repo,
            repeat=3,
        )
        full = timed([str(BIN / "dvc"), "repro", "-f"], repo, repeat=3)
        noop = timed([str(BIN / "dvc"), "repro"], repo, repeat=5)
        cli_help = timed([str(BIN / "gitops-ml"), "--help"], repo, repeat=5)
    ratio = full / bare
    return [
        Result("bare script (read, split, fit, metrics, errors, plots)", f"{bare:.2f} s"),
        Result(
            "`dvc repro -f` (prepare → train → evaluate, with MLflow)",
            f"{full:.2f} s ({ratio:.2f}× bare)",
            "≤ 3× bare",
            ratio <= 3,
            "Full repro runs three processes, each importing its libraries, and logs the model, "
            "metrics and figures to MLflow; the bare script does the same work in one process.",
        ),
        Result("no-op `dvc repro`", f"{noop:.2f} s", "≤ 1.5 s", noop <= 1.5),
        Result("`gitops-ml --help`", f"{cli_help:.2f} s", "≤ 0.3 s", cli_help <= 0.3),
    ]
