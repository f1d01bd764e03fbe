"""Whether the branch's committed results are what its code reproduces: dvc.lock against the
code, params and data (`dvc status`), and the committed eval/metrics.json against a fresh run.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_ml.infra.dvc_lock import LOCK

if TYPE_CHECKING:  # a type only: the report's CLI imports this module before pandas loads
    from gitops_ml.review.sides import Side

FIX = "run `dvc repro`, then commit `dvc.lock` and `eval/`"
COMMIT = "commit `dvc.lock` and `eval/`"
# dvc status words that mean "this output is not in the workspace", not "the lock is stale".
_ABSENT = frozenset({"deleted", "not in cache"})


@dataclass(frozen=True)
class Reproducibility:
    """Whether dvc.lock and the committed eval/ match what this workspace reproduces.

    Two different faults: the workspace's results are stale (`dvc status` sees a changed input:
    run `dvc repro`), or they are current but differ from what is committed. Locally that means
    they were reproduced and not committed yet; in CI, which reproduced them itself, that the
    pull request committed stale ones.
    """

    lock_problems: list[str]
    missing_outputs: list[str]
    metrics_committed: bool
    metric_differences: list[str]
    commit_problems: list[str] = field(default_factory=list)
    in_ci: bool = False

    @property
    def lock_up_to_date(self) -> bool:
        """True when `dvc status` shows no changed input (the workspace's results are current)."""
        return not self.lock_problems

    @property
    def metrics_match(self) -> bool:
        """True when the committed eval/metrics.json equals the workspace's."""
        return self.metrics_committed and not self.metric_differences

    @property
    def committed(self) -> bool:
        """True when the committed dvc.lock and eval/metrics.json are the workspace's."""
        return not self.commit_problems and self.metrics_match

    @property
    def ok(self) -> bool:
        """True when the branch's committed results are what its code reproduces."""
        return self.lock_up_to_date and self.committed

    @property
    def fix(self) -> str | None:
        """What to do about it, when something is off."""
        if self.ok:
            return None
        return FIX if self.in_ci or not self.lock_up_to_date else COMMIT

    def to_dict(self) -> dict[str, Any]:
        """As report.json holds it: the findings and the verdicts drawn from them."""
        return {
            "ok": self.ok,
            "lock_up_to_date": self.lock_up_to_date,
            "lock_problems": self.lock_problems,
            "committed": self.committed,
            "commit_problems": self.commit_problems,
            "missing_outputs": self.missing_outputs,
            "metrics_committed": self.metrics_committed,
            "metrics_match": self.metrics_match,
            "metric_differences": self.metric_differences,
            "fix": self.fix,
        }


def _command(cmd: Any) -> str:
    # A stage's `cmd`: one string, or a list DVC runs in turn; spacing and line breaks aside.
    commands = cmd if isinstance(cmd, list) else [cmd]
    return " && ".join(" ".join(str(one).split()) for one in commands)


def _stage_inputs(lock: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per stage, what it was run from: command, params and deps that no stage produces."""
    stages = lock.get("stages", {}) or {}
    produced = {out.get("path") for s in stages.values() for out in s.get("outs", []) or []}
    inputs = {}
    for name, stage in stages.items():
        deps = {
            d.get("path"): d.get("md5")
            for d in stage.get("deps", []) or []
            if d.get("path") not in produced
        }
        inputs[name] = {
            "cmd": _command(stage.get("cmd", "")),
            "params": stage.get("params", {}),
            "deps": deps,
        }
    return inputs


def lock_differences(
    committed: Mapping[str, Any] | None, workspace: Mapping[str, Any]
) -> list[str]:
    """Stages whose inputs differ between the committed dvc.lock and the workspace's."""
    if committed is None:
        return [f"{LOCK} is not committed"]
    old, new = _stage_inputs(committed), _stage_inputs(workspace)
    problems = []
    for stage in sorted(old.keys() | new.keys()):
        if stage not in old or stage not in new:
            problems.append(f"stage {stage} is missing from the committed {LOCK}")
            continue
        parts = [part for part in ("cmd", "params", "deps") if old[stage][part] != new[stage][part]]
        for part in parts:
            what = {"cmd": "command", "params": "params", "deps": "code or data"}[part]
            problems.append(f"the committed {LOCK} has other {what} for stage {stage}")
    return problems


def status_problems(
    status: Mapping[str, Any], lock: Mapping[str, Any] | None
) -> tuple[list[str], list[str]]:
    """Split `dvc status --json` into stale inputs/outputs and outputs merely not present."""
    produced = {
        out.get("path")
        for stage in ((lock or {}).get("stages", {}) or {}).values()
        for out in stage.get("outs", []) or []
    }
    stale: list[str] = []
    missing: list[str] = []
    for stage, entries in sorted(status.items()):
        for entry in entries:
            if isinstance(entry, str):
                stale.append(f"stage {stage}: {entry}")
                continue
            for kind, paths in entry.items():
                if not isinstance(paths, Mapping):
                    stale.append(f"stage {stage}: {kind}")
                    continue
                for path, state in paths.items():
                    if isinstance(state, Mapping) or (
                        isinstance(state, str) and state not in _ABSENT
                    ):
                        stale.append(
                            f"stage {stage}: {kind.removeprefix('changed ')} {path} {_word(state)}"
                        )
                    elif kind == "changed outs" or path in produced:
                        missing.append(path)
                    else:
                        stale.append(f"stage {stage}: dependency {path} {state}")
    return stale, sorted(set(missing))


def _word(state: Any) -> str:
    # Params deps report a mapping of param name to state; other deps one state word.
    if isinstance(state, Mapping):
        return "(" + ", ".join(f"{key} {value}" for key, value in state.items()) + ")"
    return str(state)


def metric_differences(committed: Mapping[str, Any], workspace: Mapping[str, Any]) -> list[str]:
    """Keys whose committed value differs from the reproduced one, as 'key: a → b'."""
    return [
        f"{key}: {committed.get(key)} → {workspace.get(key)}"
        for key in sorted(committed.keys() | workspace.keys())
        if committed.get(key) != workspace.get(key)
    ]


def start_dvc_status(root: Path) -> subprocess.Popen[str] | None:
    """Start `dvc status --json` in the background (None when dvc is not installed)."""
    try:
        return subprocess.Popen(
            ["dvc", "status", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        )
    except FileNotFoundError:
        return None


def stop_dvc_status(proc: subprocess.Popen[str] | None) -> None:
    """Kill a `dvc status` still running (its answer was not needed: the command stopped)."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def finish_dvc_status(proc: subprocess.Popen[str] | None) -> tuple[dict[str, Any] | None, str]:
    """The parsed status, or None and why it could not be read."""
    if proc is None:
        return None, "dvc is not installed"
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        return None, "`dvc status` did not finish within 5 minutes"
    if proc.returncode != 0:
        return None, f"`dvc status` failed: {err.strip().splitlines()[-1] if err.strip() else ''}"
    try:
        status = json.loads(out or "{}")
    except json.JSONDecodeError:
        return None, "`dvc status --json` printed no JSON"
    return status, ""


def assess(
    status: Mapping[str, Any] | None,
    status_error: str,
    branch: Side,
    committed_lock: Any,
    committed_metrics: Any,
    in_ci: bool = False,
) -> Reproducibility:
    """Judge the branch's dvc.lock and metrics from `dvc status` (None: `status_error` says why
    it is not known) and the committed files."""
    stale: list[str] = []
    missing: list[str] = []
    if status is None:
        stale.append(f"cannot tell whether {LOCK} is up to date: {status_error}")
    else:
        stale, missing = status_problems(status, branch.lock)
    uncommitted: list[str] = []
    if branch.lock is None:
        stale.append(f"there is no {LOCK} in the workspace")
    else:
        uncommitted = lock_differences(committed_lock, branch.lock)
    differences = (
        metric_differences(committed_metrics, branch.metrics or {})
        if committed_metrics is not None
        else []
    )
    return Reproducibility(
        stale, missing, committed_metrics is not None, differences, uncommitted, in_ci
    )
