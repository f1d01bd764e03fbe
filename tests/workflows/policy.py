"""The workflow policy (CONTRIBUTING rules for .github/workflows), as a checker tests can run."""

from __future__ import annotations

import re
from typing import Any

import yaml

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\S*\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<target>[^\s#]+)(?P<rest>.*)$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Attacker-controllable values: interpolated into a script they become code.
UNTRUSTED = re.compile(r"\bgithub\.event\b|\binputs\.|\bgithub\.head_ref\b")
READ_ONLY = {"read", "none"}


def _permissions_problem(value: Any) -> str | None:
    if value == {} or value == "read-all":
        return None
    if isinstance(value, dict) and all(v in READ_ONLY for v in value.values()):
        return None
    return f"must be {{}} or read-only, got {value!r}"


def check_workflow(text: str) -> list[str]:
    """Every policy violation in one workflow file's text (empty when it complies)."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match or match["target"].startswith(("./", "docker://")):
            continue
        if not PINNED.match(match["target"]):
            problems.append(
                f"line {number}: `uses: {match['target']}` is not pinned to a commit SHA"
            )
        elif not VERSION_COMMENT.search(match["rest"]):
            problems.append(f"line {number}: `uses: {match['target']}` lacks a `# vX.Y.Z` comment")

    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        return [*problems, "not a workflow: expected a mapping"]
    if "permissions" not in doc:
        problems.append("top-level `permissions` is missing")
    elif problem := _permissions_problem(doc["permissions"]):
        problems.append(f"top-level `permissions` {problem}")
    for job_id, job in (doc.get("jobs") or {}).items():
        if "uses" not in job and "timeout-minutes" not in job:  # reusable-workflow calls take none
            problems.append(f"job `{job_id}` has no `timeout-minutes`")
        if "permissions" not in job:
            problems.append(f"job `{job_id}` does not declare its `permissions`")
        for index, step in enumerate(job.get("steps") or [], start=1):
            script = step.get("run")
            if not isinstance(script, str):
                continue
            for expression in EXPRESSION.findall(script):
                if UNTRUSTED.search(expression):
                    name = step.get("name") or step.get("id") or f"#{index}"
                    problems.append(
                        f"job `{job_id}` step {name}: `${{{{{expression}}}}}` inside `run:`"
                        " (pass it through `env:`)"
                    )
    return problems
