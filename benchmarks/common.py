"""What a benchmark returns, and small timing helpers shared by the bench_*.py modules."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Result:
    """One measured figure: `shown` is the human value, `ok` whether it meets `target`."""

    name: str
    shown: str
    target: str = ""
    ok: bool | None = None
    note: str = ""


def env() -> dict[str, str]:
    """Environment for timed subprocesses: the project's tools first, no telemetry."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def timed(cmd: list[str], cwd: Path, repeat: int = 1) -> float:
    """Best wall time in seconds of `repeat` runs of a command that must succeed."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env(), check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def project_copy(dest: Path) -> Path:
    """A git repository at `dest` holding the project's files as a fresh clone would."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in listed:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


@dataclass(frozen=True)
class Measure:
    """Wall time and peak memory of one command with everything it started."""

    seconds: float
    peak_mb: float
    stdout: str


def measured(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Measure:
    """Run a command that must succeed; its wall time and the peak memory of its process tree.

    The tree's memory is summed every 50 ms (psutil), catching processes that overlap (dvc and
    a stage), as proportional set size: pages processes share count once, split between them.
    Summed resident sizes would count them twice, e.g. a stage for the instant it forks to start
    a subprocess (the child shares all its pages). The kernel's own high-water mark of the largest
    single process (wait4's ru_maxrss) catches spikes between samples. The peak is the larger.
    """
    import psutil

    out_file = cwd / f".bench-out-{time.monotonic_ns()}.log"
    with out_file.open("w+b") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env={**env(), **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
        root = psutil.Process(proc.pid)
        sampled = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            with contextlib.suppress(psutil.NoSuchProcess):
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        total += _proportional(p)
                sampled = max(sampled, total)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    out_file.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-3000:]}")
    peak = max(sampled, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    return Measure(seconds, peak / 2**20, text)


def _proportional(process: object) -> int:
    """A process's proportional set size in bytes (its resident size where the system has none)."""
    info = process.memory_full_info()  # type: ignore[attr-defined]
    return int(getattr(info, "pss", info.rss))
