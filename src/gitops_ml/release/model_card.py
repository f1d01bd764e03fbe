"""The model card: a generated markdown description of one registered model version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gitops_ml.core.metric_rules import METRICS
from gitops_ml.release.champion import Decision


@dataclass(frozen=True)
class DataFacts:
    """What the model was trained and tested on."""

    source: str
    source_md5: str | None
    train_rows: int
    test_rows: int
    train_positive_rate: float
    test_positive_rate: float
    target: str
    positive_label: str


@dataclass(frozen=True)
class Card:
    """Everything the model card says."""

    name: str
    version: str
    intended_use: str
    limitations: list[str]
    data: DataFacts
    train_params: dict[str, Any]
    decision: Decision
    lineage: dict[str, str]
    bar: str = ""  # where the promotion rule was read
    artifact_sha256: str | None = None  # of the registered model file
    model_sha256: str | None = None  # of the model file `train` wrote (the release's)
    threshold: str | None = None  # the decision threshold stored with the version
    forced_off_main: str | None = None  # why a commit off the default branch was promoted


def render(card: Card) -> str:
    """The model card as markdown."""
    d = card.data
    ch = card.decision.challenger
    lines = [
        f"# Model card: {card.name} v{card.version}",
        "",
        "## Intended use",
        "",
        card.intended_use.strip() or "(not stated: set `registry.intended_use` in params.yaml)",
        "",
        "## Data",
        "",
        f"- Source: `{d.source}` (md5 `{d.source_md5 or 'unknown'}`)",
        f"- Target: `{d.target}`, positive label `{d.positive_label}`",
        f"- Rows: {d.train_rows} train, {d.test_rows} test",
        f"- Class balance (positive rate): {d.train_positive_rate:.3f} train, "
        f"{d.test_positive_rate:.3f} test",
        "",
        "## Training parameters",
        "",
        "```json",
        json.dumps(card.train_params, indent=2, sort_keys=True),
        "```",
        "",
        "## Metrics on the test set (± bootstrap standard error)",
        "",
        "| metric | value |",
        "|---|---:|",
        *(f"| {m} | {ch.metrics[m]:.4f} ± {ch.se[m]:.4f} |" for m in METRICS),
        "",
        *(
            [
                f"Labels are decided at probability {card.threshold} (stored with the version; "
                "`serve.threshold` overrides it).",
                "",
            ]
            if card.threshold
            else []
        ),
        "## Comparison with the champion",
        "",
        _comparison(card.decision),
        "",
        *([f"Promotion rule read from {card.bar}.", ""] if card.bar else []),
        *(
            [f"**Promoted off the default branch, forced:** {card.forced_off_main}", ""]
            if card.forced_off_main
            else []
        ),
        "## Lineage",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | `{value}` |" for key, value in sorted(card.lineage.items())),
        *(
            [f"| model file SHA-256 (checked on every load) | `{card.artifact_sha256}` |"]
            if card.artifact_sha256
            else []
        ),
        *(
            [f"| model file SHA-256 (the release's model.skops) | `{card.model_sha256}` |"]
            if card.model_sha256
            else []
        ),
        "",
        "## Limitations",
        "",
        *(f"- {item}" for item in card.limitations),
        f"- Scored on one held-out split of {d.test_rows} rows; the errors above are its "
        "sampling noise, not a guarantee on future data.",
    ]
    return "\n".join(lines) + "\n"


def _comparison(decision: Decision) -> str:
    verdict = "Promoted to champion" if decision.promote else "Not promoted"
    text = f"{verdict}: {decision.reason}."
    champ = decision.champion
    if champ is None:
        return text
    m = decision.metric
    return (
        f"{text}\n\nOn the same test set, {m} was {decision.challenger.metrics[m]:.4f} against "
        f"{champ.metrics[m]:.4f} for champion v{decision.champion_version} "
        f"(difference {decision.delta or 0.0:+.4f}, paired SE {decision.delta_se or 0.0:.4f})."
    )
