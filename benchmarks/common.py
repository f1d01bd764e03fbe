"""What a benchmark returns, and small timing helpers shared by the bench_*.py modules."""

from __future__ import annotations

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
