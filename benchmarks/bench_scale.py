"""Pipeline vs bare script at 7k, 1M and 10M rows: wall time, peak memory, no-op, run-cache.

Each size gets a fresh git copy of the project. At 7k it runs on the default CSV; at 1M and
10M on a Parquet batch written by `gitops-ml simulate` (resampled default data, not timed). The
bare script (benchmarks/bare_pipeline.py) and `dvc repro -f` run one after the other, each as a
fresh process tree whose peak memory is measured (common.measured); at 7k, where one pair moves
by about 10%, three times in turn, and the pair of median time ratio is reported. Then a no-op
`dvc repro` (best of three), and the run-cache: `gitops-ml push-run-cache` to a local-directory
remote, a fresh `git clone` without dvc.lock, and `dvc repro --pull` there, which must restore
every stage from the run-cache without running one (checked in its output).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from common import BIN, ROOT, Measure, Result, env, measured, project_copy

SIZED = True  # run.py runs this module once per size of `make bench SIZES=...`
ROWS = {"7k": 0, "1m": 1_000_000, "10m": 10_000_000}
# Targets of the scale benchmark (docs/benchmarks.md): on the default data the pipeline costs
# at most 1.8x the bare script's wall time and 1.3x its memory; at 1M rows 1.1x its time and
# 1.3x its memory; a run-cache restore is 10x faster than running.
SMALL_TIME, SMALL_MEMORY = 1.8, 1.3
RATIO_TARGET, MEMORY_TARGET = 1.1, 1.3
RESTORE_TARGET = 10.0
MACHINE_GB = 24
# At 7k rows a run takes seconds, and one pair of runs moves by about 10% on a quiet machine:
# the bare script and the pipeline alternate this many times (each pipeline run in a fresh
# copy of the project), and the round of median time ratio is the one reported.
SMALL_ROUNDS = 3


def _git(repo: Path, *args: str) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, *args], cwd=repo, env=env(), check=True, capture_output=True)


def _use_simulated(repo: Path, rows: int) -> Path:
    raw = repo / "data" / "raw" / "bench.parquet"
    params_path = repo / "params.yaml"
    # The whole default table (not only its held-out rows, simulate's default) is resampled.
    source = yaml.safe_load(params_path.read_text())["data"]["raw"]
    cmd = [str(BIN / "gitops-ml"), "simulate", "--rows", str(rows), "--raw", source]
    subprocess.run(
        [*cmd, "--output", str(raw)],
        cwd=repo,
        env=env(),
        check=True,
        capture_output=True,
    )
    params = yaml.safe_load(params_path.read_text())
    params["data"]["raw"] = "data/raw/bench.parquet"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"bench: {rows} simulated rows")
    return raw


def _steps() -> set[str]:
    # BENCH_SCALE_STEPS narrows a long run, e.g. "pipeline" alone at 10M on a busy machine.
    return set(os.environ.get("BENCH_SCALE_STEPS", "bare,pipeline,noop,restore").split(","))


def _shown(m: Measure) -> str:
    return f"{m.seconds:,.1f} s, {m.peak_mb:,.0f} MB"


def run(size: str) -> list[Result]:
    """Measure one size: bare vs pipeline, no-op repro, run-cache restore vs recompute."""
    key = size.lower()
    if key not in ROWS:
        raise SystemExit(f"unknown size {size!r}; expected one of {list(ROWS)}")
    steps = _steps()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{key}-") as tmp:
        repo = project_copy(Path(tmp) / "repo")
        rows = ROWS[key]
        raw = _use_simulated(repo, rows) if rows else repo / "data/raw/telco_churn.csv"
        label = f"{size} rows"
        bare = pipe = None
        if "bare" in steps and "pipeline" in steps and key == "7k":
            bare, pipe, ratios = _alternating(repo, raw, Path(tmp))
            results.append(Result(f"{label}: bare script", _shown(bare)))
            results.append(_pipeline_result(label, key, pipe, bare, ratios))
        elif "bare" in steps or "pipeline" in steps:
            if "bare" in steps:
                bare = _bare(repo, raw, Path(tmp))
                results.append(Result(f"{label}: bare script", _shown(bare)))
            if "pipeline" in steps:
                pipe = measured([str(BIN / "dvc"), "repro", "-f"], repo)
                results.append(_pipeline_result(label, key, pipe, bare))
        if "noop" in steps and pipe is not None:
            # A start-up figure, like `--help` and report: best of three runs.
            noops = [measured([str(BIN / "dvc"), "repro"], repo) for _ in range(3)]
            noop = min(noops, key=lambda m: m.seconds)
            ran = any("Running stage" in m.stdout for m in noops)
            results.append(
                Result(
                    f"{label}: no-op `dvc repro` (best of 3)",
                    f"{noop.seconds:.2f} s" + (" (re-ran a stage!)" if ran else ""),
                    "≤ 1.5 s",
                    noop.seconds <= 1.5 and not ran,
                )
            )
        if "restore" in steps and pipe is not None:
            results.append(_restore_result(label, key, repo, Path(tmp), pipe))
    return results


def _bare(repo: Path, raw: Path, tmp: Path) -> Measure:
    bare_cmd = [sys.executable, str(ROOT / "benchmarks/bare_pipeline.py"), str(raw)]
    return measured([*bare_cmd, str(tmp / "bare")], repo)


def _alternating(repo: Path, raw: Path, tmp: Path) -> tuple[Measure, Measure, list[float]]:
    """SMALL_ROUNDS pairs of bare script then pipeline, each pipeline run in a fresh copy of the
    project (the first in `repo`, which the later steps use); the pair of median time ratio,
    and every round's time ratio."""
    pairs = []
    for round_ in range(SMALL_ROUNDS):
        bare = _bare(repo, raw, tmp)
        copy = repo if round_ == 0 else project_copy(tmp / f"repo-{round_}")
        pairs.append((bare, measured([str(BIN / "dvc"), "repro", "-f"], copy)))
        if copy != repo:
            shutil.rmtree(copy, ignore_errors=True)
    ratios = [pipe.seconds / bare.seconds for bare, pipe in pairs]
    bare, pipe = sorted(pairs, key=lambda pair: pair[1].seconds / pair[0].seconds)[len(pairs) // 2]
    return bare, pipe, ratios


def _pipeline_result(
    label: str, key: str, pipe: Measure, bare: Measure | None, ratios: list[float] | None = None
) -> Result:
    shown = _shown(pipe)
    if bare is None:
        ok = pipe.peak_mb < MACHINE_GB * 1024 if key == "10m" else None
        target = f"completes in < {MACHINE_GB} GB" if key == "10m" else ""
        return Result(f"{label}: pipeline `dvc repro -f`", shown, target, ok)
    time_ratio, mem_ratio = pipe.seconds / bare.seconds, pipe.peak_mb / bare.peak_mb
    shown += f" ({time_ratio:.2f}× bare time, {mem_ratio:.2f}× bare memory)"
    if ratios:
        each = ", ".join(f"{r:.2f}×" for r in ratios)
        shown += f"; median round of {len(ratios)}, time ratios {each}"
    if key == "1m":
        ok: bool | None = time_ratio <= RATIO_TARGET and mem_ratio <= MEMORY_TARGET
        target = f"≤ {RATIO_TARGET}× bare time, ≤ {MEMORY_TARGET}× memory"
    elif key == "7k":
        ok = time_ratio <= SMALL_TIME and mem_ratio <= SMALL_MEMORY
        target = f"≤ {SMALL_TIME}× bare time, ≤ {SMALL_MEMORY}× memory"
    elif key == "10m":
        ok, target = pipe.peak_mb < MACHINE_GB * 1024, f"completes in < {MACHINE_GB} GB"
    else:
        ok, target = None, ""
    return Result(
        f"{label}: pipeline `dvc repro -f`",
        shown,
        target,
        ok,
        note=(
            "Pipeline vs bare: wall time and peak memory of the whole process tree (dvc plus the "
            "stage it runs; summed as proportional set size, so pages two processes share count "
            "once, and at least the largest process's own peak RSS), each in a fresh process, "
            "the pipeline in a fresh copy of the project (its first run creates the MLflow "
            f"store); at 7k rows, {SMALL_ROUNDS} rounds of the two in turn, the round of median "
            "time ratio shown. The pipeline also writes "
            "the Parquet splits and schema, saves the model with skops, and logs model, "
            "metrics and figures to MLflow; the bare script does the same modelling work."
        ),
    )


def _restore_result(label: str, key: str, repo: Path, tmp: Path, pipe: Measure) -> Result:
    remote = tmp / "remote"
    dvc = str(BIN / "dvc")
    subprocess.run(
        [dvc, "remote", "add", "-d", "bench", str(remote)], cwd=repo, env=env(), check=True
    )
    # What promote.sh runs on main: `dvc push --run-cache` plus the objects of the
    # `cache: false` outputs (evaluate's metrics and plot data) that the run-cache names.
    subprocess.run(
        [str(BIN / "gitops-ml"), "push-run-cache"],
        cwd=repo,
        env=env(),
        check=True,
        capture_output=True,
    )
    _git(repo, "add", ".dvc/config")
    _git(repo, "commit", "-q", "-m", "bench: remote")
    clone = tmp / "clone"
    _git(tmp, "clone", "-q", str(repo), str(clone))
    # Without dvc.lock DVC cannot check outputs out by their recorded hashes: only the
    # run-cache (keyed by command, dependencies and params) can spare the stages a run.
    (clone / "dvc.lock").unlink(missing_ok=True)
    restore = measured([dvc, "repro", "--pull"], clone)
    ran = re.findall(r"Running stage '([^']+)'", restore.stdout)
    same = (clone / "eval/metrics.json").read_bytes() == (repo / "eval/metrics.json").read_bytes()
    shutil.rmtree(clone, ignore_errors=True)
    speedup = pipe.seconds / restore.seconds
    shown = f"{restore.seconds:.1f} s vs {pipe.seconds:,.1f} s ({speedup:.0f}× faster)"
    if ran or not same:
        shown += f" (stages ran: {', '.join(ran)}!)" if ran else " (metrics differ!)"
    ok = None if key != "1m" else speedup >= RESTORE_TARGET and not ran and same
    return Result(
        f"{label}: run-cache restore (`dvc repro --pull`, fresh clone) vs recompute",
        shown,
        f"≥ {RESTORE_TARGET:g}× faster" if key == "1m" else "",
        ok,
        note=(
            "Run-cache: `dvc push --run-cache` to a local-directory remote, then in a fresh "
            "`git clone` with dvc.lock removed, `dvc repro --pull` restores every stage's "
            "outputs from the run-cache without running any (checked); recompute is the "
            "pipeline run above. The push is `gitops-ml push-run-cache` (as on main): "
            "`dvc push --run-cache` alone leaves out the objects of `cache: false` outputs "
            "(evaluate's metrics and plot JSON), so `repro --pull` would re-run evaluate."
        ),
    )
