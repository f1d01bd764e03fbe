"""Champion against challenger: both scored on the same test set, one rule decides.

Pure functions of scores; scoring is `core.metrics`, the registry I/O lives in `promotion`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gitops_ml.core.metric_rules import METRICS, floor_failures
from gitops_ml.core.metrics import Paired, Scores
from gitops_ml.core.params import RegistryParams


@dataclass(frozen=True)
class Decision:
    """Whether the challenger becomes champion, why, and the numbers behind it."""

    promote: bool
    reason: str
    metric: str
    challenger: Scores
    champion: Scores | None = None
    champion_version: str | None = None
    delta: float | None = None
    delta_se: float | None = None
    floor_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The decision as plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """Rebuild a decision stored by `to_dict`."""
        champion = data.get("champion")
        return cls(
            **{k: v for k, v in data.items() if k not in ("challenger", "champion")},
            challenger=Scores(**data["challenger"]),
            champion=Scores(**champion) if champion else None,
        )


def decide(
    challenger: Scores,
    rule: RegistryParams,
    floors: dict[str, float],
    paired: Paired | None = None,
    champion_version: str | None = None,
) -> Decision:
    """Apply the promotion rule: floors first, then margin (or noise) against the champion.

    `paired` holds both models scored together when there is a champion, None when there is not.
    """
    metric = rule.metric
    champion = paired.old if paired is not None else None
    failures = floor_failures(challenger.metrics, floors)
    base = Decision(
        promote=False,
        reason="",
        metric=metric,
        challenger=challenger,
        champion=champion,
        champion_version=champion_version,
        floor_failures=failures,
    )
    if failures:
        return replace(base, reason="fails the floors: " + "; ".join(failures))
    if paired is None:
        return replace(base, promote=True, reason="first champion: no champion yet, floors met")
    difference = paired.on(metric)
    delta, se = difference.delta, difference.se
    vs = f"champion v{champion_version}" if champion_version else "the champion"
    if rule.margin > 0:
        promote = delta >= rule.margin
        verb = "meets" if promote else "falls short of"
        reason = f"{metric} {delta:+.4f} against {vs} {verb} the required margin {rule.margin:.4f}"
    else:
        allowed = rule.noise * se
        promote = delta >= -allowed
        if delta >= 0:
            reason = f"{metric} {delta:+.4f}: not worse than {vs}"
        elif promote:
            reason = f"{metric} {delta:+.4f} against {vs} is within noise ({allowed:.4f})"
        else:
            reason = f"{metric} {delta:+.4f} against {vs} is worse beyond noise ({allowed:.4f})"
    return replace(base, promote=promote, reason=reason, delta=delta, delta_se=se)


def markdown(decision: Decision, name: str, version: str) -> str:
    """The decision as a markdown section: verdict, reason and a metric table."""
    verdict = "promoted to champion" if decision.promote else "not promoted"
    lines = [
        f"## {name} v{version}: {verdict}",
        "",
        f"**Reason:** {decision.reason}",
        "",
    ]
    champ = decision.champion
    head = f"| metric | challenger v{version} |"
    rule = "|---|---:|"
    if champ is not None:
        head += f" champion v{decision.champion_version} | difference |"
        rule += "---:|---:|"
    lines += [head, rule]
    for name_ in METRICS:
        value = decision.challenger.metrics[name_]
        row = f"| {name_}{' (decides)' if name_ == decision.metric else ''} | "
        row += f"{value:.4f} ± {decision.challenger.se[name_]:.4f} |"
        if champ is not None:
            old = champ.metrics[name_]
            row += f" {old:.4f} ± {champ.se[name_]:.4f} | {value - old:+.4f} |"
        lines.append(row)
    if decision.delta is not None:
        lines += [
            "",
            f"Improvement in {decision.metric}: {decision.delta:+.4f} "
            f"(paired bootstrap SE {decision.delta_se or 0.0:.4f}).",
        ]
    return "\n".join(lines) + "\n"
