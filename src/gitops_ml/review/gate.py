"""The quality gate: metric changes judged against noise, floors, allowed drops, must-improve.

Pure functions over plain dicts of metrics (as in eval/metrics.json), so the rules are easy to
test and the report only has to render their results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gitops_ml.core.metric_rules import METRICS, floor_check, higher_is_better
from gitops_ml.core.params import GatesParams

Metrics = Mapping[str, float]


@dataclass(frozen=True)
class Change:
    """One metric on both sides: the change, the noise band around it, and its meaning."""

    metric: str
    base: float | None
    branch: float | None
    delta: float | None
    noise: float | None
    beyond_noise: bool
    # +1 when the branch is better beyond noise, -1 when worse beyond noise, 0 otherwise.
    direction: int
    higher_is_better: bool


@dataclass(frozen=True)
class Check:
    """One rule of the gate applied to one metric."""

    rule: str  # "floor", "max_drop" or "must_improve"
    metric: str
    threshold: float | None
    value: float | None
    passed: bool
    applies: bool
    detail: str


def noise_band(se_base: float, se_branch: float, z: float) -> float:
    """Half-width of the no-change band: z * sqrt(se_base² + se_branch²)."""
    # Both sides are scored on the same test rows, so their errors are positively correlated
    # and the band treating them as independent is wider than a paired test's: conservative.
    return z * math.hypot(se_base, se_branch)


def compare(base: Metrics | None, branch: Metrics, z: float) -> list[Change]:
    """Every metric of METRICS present on the branch, with its change versus the base."""
    changes = []
    for metric in METRICS:
        if metric not in branch:
            continue
        value = float(branch[metric])
        up = higher_is_better(metric)
        old = None if base is None or metric not in base else float(base[metric])
        if old is None:
            changes.append(Change(metric, None, value, None, None, False, 0, up))
            continue
        delta = value - old
        se_old = float(base.get(f"{metric}_se", 0.0)) if base is not None else 0.0
        se_new = float(branch.get(f"{metric}_se", 0.0))
        noise = noise_band(se_old, se_new, z)
        beyond = abs(delta) > noise
        better = delta > 0 if up else delta < 0
        direction = 0 if not beyond else (1 if better else -1)
        changes.append(Change(metric, old, value, delta, noise, beyond, direction, up))
    return changes


def _floor(metric: str, limit: float, value: float | None) -> Check:
    found = floor_check(metric, limit, value)
    return Check("floor", metric, limit, value, found.passed, True, found.detail)


def _max_drop(metric: str, limit: float, change: Change | None) -> Check:
    if change is None or change.base is None or change.delta is None:
        value = None if change is None else change.branch
        return Check("max_drop", metric, limit, value, True, False, "no baseline to compare")
    worsening = -change.delta if change.higher_is_better else change.delta
    counted = change.beyond_noise and worsening > 0
    passed = not (counted and worsening > limit)
    if passed and counted:
        detail = f"{metric} worsened by {worsening:.4f}, within the allowed {limit:g}"
    elif passed:
        detail = f"{metric} did not worsen beyond noise (±{change.noise:.4f})"
    else:
        detail = (
            f"{metric} worsened by {worsening:.4f} ({change.base:.4f} → {change.branch:.4f}), "
            f"beyond noise (±{change.noise:.4f}) and more than the allowed {limit:g}"
        )
    return Check("max_drop", metric, limit, change.branch, passed, True, detail)


def _must_improve(metric: str, change: Change | None) -> Check:
    if change is None or change.base is None:
        value = None if change is None else change.branch
        return Check("must_improve", metric, None, value, True, False, "no baseline to compare")
    passed = change.direction == 1
    verb = "improved" if passed else "did not improve"
    detail = (
        f"{metric} {verb} beyond noise "
        f"({change.base:.4f} → {change.branch:.4f}, ±{change.noise:.4f})"
    )
    return Check("must_improve", metric, None, change.branch, passed, True, detail)


def check(gates: GatesParams, changes: list[Change], branch: Metrics) -> list[Check]:
    """Apply every rule of the gate; rules needing a base are skipped when there is none."""
    by_metric = {c.metric: c for c in changes}
    checks = []
    for metric, limit in gates.floors.items():
        value = branch.get(metric)
        checks.append(_floor(metric, limit, None if value is None else float(value)))
    for metric, limit in gates.max_drop.items():
        checks.append(_max_drop(metric, limit, by_metric.get(metric)))
    if gates.must_improve is not None:
        checks.append(_must_improve(gates.must_improve, by_metric.get(gates.must_improve)))
    return checks
