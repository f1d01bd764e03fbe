"""Champion against challenger: both scored on the same test set, one rule decides.

Pure functions of labels and predicted probabilities; the registry I/O lives in `promotion.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from gitops_ml.evaluate import bootstrap_se, score
from gitops_ml.metric_names import LOWER_IS_BETTER, METRICS
from gitops_ml.params import EvaluateParams, RegistryParams

DIGITS = 6


@dataclass(frozen=True)
class Scores:
    """One model's metrics on the test set, with bootstrap standard errors."""

    metrics: dict[str, float]
    se: dict[str, float]


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


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def scores(y: np.ndarray, proba: np.ndarray, settings: EvaluateParams, seed: int) -> Scores:
    """Every metric of a model's probabilities, with its bootstrap standard error."""
    point = score(y, proba, settings.threshold)
    errors = bootstrap_se(y, proba, settings.threshold, settings.bootstrap, seed)
    return Scores(
        metrics={k: _r(v) for k, v in point.items()}, se={k: _r(v) for k, v in errors.items()}
    )


def improvement(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is (positive = better), whichever way the metric points."""
    diff = challenger - champion
    return -diff if metric in LOWER_IS_BETTER else diff


def paired(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    metric: str,
    settings: EvaluateParams,
    seed: int,
) -> tuple[Scores, Scores, float]:
    """Both models' scores and the standard error of the improvement, from ONE bootstrap.

    Each resample scores both models on the same rows, so the error of their difference is not
    inflated by rows only one of them saw. The resamples are those of `bootstrap_se` with the
    same seed, so each model's errors equal what the evaluate stage reports.
    """
    import sklearn

    rng = np.random.default_rng(seed)
    rows: list[tuple[dict[str, float], dict[str, float]]] = []
    # Resamples are valid by construction; sklearn's per-call checks would dominate the cost.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        for _ in range(settings.bootstrap):
            idx = rng.integers(0, len(y), len(y))
            if y[idx].min() == y[idx].max():
                continue
            rows.append(
                (
                    score(y[idx], challenger[idx], settings.threshold),
                    score(y[idx], champion[idx], settings.threshold),
                )
            )

    def se(values: list[float]) -> float:
        return _r(float(np.std(values, ddof=1))) if len(values) > 1 else 0.0

    def model(which: int, proba: np.ndarray) -> Scores:
        point = score(y, proba, settings.threshold)
        return Scores(
            metrics={k: _r(v) for k, v in point.items()},
            se={m: se([row[which][m] for row in rows]) for m in METRICS},
        )

    diffs = [improvement(metric, new[metric], old[metric]) for new, old in rows]
    return model(0, challenger), model(1, champion), se(diffs)


def floor_failures(metrics: dict[str, float], floors: dict[str, float]) -> list[str]:
    """Each floor a model misses, said in words (lower-is-better metrics have a ceiling)."""
    failures = []
    for name, floor in sorted(floors.items()):
        value = metrics[name]
        if name in LOWER_IS_BETTER and value > floor:
            failures.append(f"{name} {value:.4f} is above the ceiling {floor:.4f}")
        elif name not in LOWER_IS_BETTER and value < floor:
            failures.append(f"{name} {value:.4f} is below the floor {floor:.4f}")
    return failures


def decide(
    challenger: Scores,
    champion: Scores | None,
    delta_se: float | None,
    rule: RegistryParams,
    floors: dict[str, float],
    champion_version: str | None = None,
) -> Decision:
    """Apply the promotion rule: floors first, then margin (or noise) against the champion."""
    metric = rule.metric
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
    if champion is None:
        return replace(base, promote=True, reason="first champion: no champion yet, floors met")
    delta = _r(improvement(metric, challenger.metrics[metric], champion.metrics[metric]))
    se = delta_se or 0.0
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
