"""The evaluation metrics by name, which way each points, and the floor rule.

Importable without numpy, pandas or scikit-learn: params validation, the report and the gate
read these rules without paying for the heavy imports (`core.metrics` computes the values).
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS = (
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "f1",
    "precision",
    "recall",
    "accuracy",
)
# Metrics for which lower is better; every other one is better higher.
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of the metric is an improvement."""
    return metric not in LOWER_IS_BETTER


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old` (positive = better), whichever way the metric points."""
    diff = new - old
    return diff if higher_is_better(metric) else -diff


@dataclass(frozen=True)
class FloorCheck:
    """One metric against its floor (a ceiling for lower-is-better metrics)."""

    metric: str
    limit: float
    value: float | None
    passed: bool
    detail: str


def floor_check(metric: str, limit: float, value: float | None) -> FloorCheck:
    """Whether `value` clears the worst acceptable `limit`, said in words."""
    if value is None:
        return FloorCheck(metric, limit, None, False, f"{metric} is missing")
    up = higher_is_better(metric)
    passed = value >= limit if up else value <= limit
    if passed:
        word = "meets the floor" if up else "is within the ceiling"
    else:
        word = "is below the floor" if up else "is above the ceiling"
    return FloorCheck(metric, limit, value, passed, f"{metric} {value:.4f} {word} {limit:g}")


def floor_failures(metrics: dict[str, float], floors: dict[str, float]) -> list[str]:
    """Each floor a model misses, in words, in metric order of `floors` sorted by name."""
    checks = (floor_check(name, limit, metrics.get(name)) for name, limit in sorted(floors.items()))
    return [check.detail for check in checks if not check.passed]
