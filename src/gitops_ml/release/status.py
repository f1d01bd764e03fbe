"""The registry command: the champion, the challenger, every version and the history of events."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitops_ml.core.params import Params
from gitops_ml.infra import lineage, tracking
from gitops_ml.release import rebuild as rebuilding
from gitops_ml.release import registry
from gitops_ml.release.registry import CHALLENGER, CHAMPION, DECISION_TAG, PREVIOUS, ModelRegistry


@dataclass(frozen=True)
class RegistryState:
    """The registry's current aliases, versions and history."""

    name: str
    metric: str
    aliases: dict[str, str]
    versions: list[registry.Version]
    events: list[dict[str, Any]]


def read_state(params: Params) -> RegistryState:
    """Read the registry of the configured model."""
    uri = tracking.tracking_uri()
    with registry.errors_named(uri):
        reg = ModelRegistry(params.registry.model_name, uri)
        return RegistryState(
            reg.name, params.registry.metric, reg.aliases(), reg.versions(), reg.events()
        )


def markdown(state: RegistryState) -> str:
    """The registry as markdown: champion, challenger, versions and the history of events."""
    a = state.aliases

    def shown(alias: str) -> str:
        return f"v{a[alias]}" if alias in a else "none"

    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(a.items()):
        by_version.setdefault(version, []).append(alias)
    lines = [
        f"# Registry: {state.name}",
        "",
        f"- champion: {shown(CHAMPION)}",
        f"- challenger: {shown(CHALLENGER)}",
        f"- previous champion: {shown(PREVIOUS)}",
        "",
        f"| version | commit | pr | {state.metric} | decision | aliases |",
        "|---|---|---|---:|---|---|",
    ]
    for v in state.versions:
        decision = json.loads(v.tags[DECISION_TAG]) if DECISION_TAG in v.tags else None
        commit = lineage.read(v.tags, lineage.COMMIT) or ""
        verdict = "pending"
        if decision is not None:
            verdict = "promoted" if decision["promote"] else "rejected"
        lines.append(
            f"| v{v.version} | {commit[:10]} | {v.tags.get(lineage.PULL_REQUEST, '')} "
            f"| {v.tags.get(f'metrics.{state.metric}', '')} | {verdict} "
            f"| {', '.join(by_version.get(v.version, []))} |"
        )
    lines += ["", "| # | when | action | version | from | reason |", "|---:|---|---|---|---|---|"]
    for i, e in enumerate(state.events, start=1):
        old = f"v{e['from']}" if e.get("from") else ""
        lines.append(
            f"| {i} | {e['at']} | {e['action']} | v{e['version']} | {old} "
            f"| {e['reason'].replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def show(repo: Path, params: Params, *, as_json: bool, rebuild: bool) -> str:
    """The registry as markdown or JSON; with `rebuild`, first rebuilt from git if it was lost."""
    note = ""
    if rebuild:
        done = rebuilding.rebuild(repo, params)
        restored = ", ".join(f"v{v}" for v in done.restored) or "nothing"
        note = f"Rebuild from git: {done.note} (registered {restored}).\n\n"
    state = read_state(params)
    if as_json:
        return json.dumps(asdict(state), indent=2, sort_keys=True) + "\n"
    return note + markdown(state)
