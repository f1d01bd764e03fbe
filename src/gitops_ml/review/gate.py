"""The quality gate: metric changes judged against noise, floors, allowed drops, must-improve,
and allowed drops per slice.

Pure functions over plain dicts of metrics (as in eval/metrics.json) and paired comparisons of
the two sides' predictions, so the rules are easy to test and the report only has to render
their results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gitops_ml.core.metric_rules import METRICS, floor_check, higher_is_better
from gitops_ml.core.metrics import Paired
from gitops_ml.core.params import GatesParams

Metrics = Mapping[str, float]
OVERALL = "overall"


@dataclass(frozen=True)
class Change:
    """One metric on both sides: the change, the noise band around it, and its meaning."""

    metric: str
    base: float | None
    branch: float | None
    delta: float | None  # branch minus base, in the metric's units
    noise: float | None  # half-width of the no-change band around 0
    beyond_noise: bool
    # +1 when the branch is better beyond noise, -1 when worse beyond noise, 0 otherwise.
    direction: int
    higher_is_better: bool
    subject: str = OVERALL  # the whole test set, or a slice (`column=value`)
    rows: int | None = None  # rows of a paired comparison; None for an unpaired one


@dataclass(frozen=True)
class Check:
    """One rule of the gate applied to one metric (of the whole test set, or of a slice)."""

    rule: str  # "floor", "max_drop", "must_improve" or "slice_max_drop"
    metric: str
    threshold: float | None
    value: float | None
    passed: bool
    applies: bool
    detail: str
    subject: str = OVERALL


def noise_band(se_base: float, se_branch: float, z: float) -> float:
    """Half-width of the unpaired no-change band: z * sqrt(se_base² + se_branch²)."""
    # Used only when the two sides share too few test rows to be paired: treating their
    # errors as independent is conservative (rows both scored are positively correlated).
    return z * math.hypot(se_base, se_branch)


def judged(
    metric: str,
    base: float | None,
    branch: float | None,
    delta: float,
    noise: float,
    *,
    subject: str = OVERALL,
    rows: int | None = None,
) -> Change:
    """A change of `delta` (branch minus base) read against its noise band."""
    up = higher_is_better(metric)
    beyond = abs(delta) > noise
    better = delta > 0 if up else delta < 0
    direction = 0 if not beyond else (1 if better else -1)
    return Change(metric, base, branch, delta, noise, beyond, direction, up, subject, rows)


def paired_change(
    metric: str,
    paired: Paired,
    z: float,
    base: float | None = None,
    branch: float | None = None,
    *,
    subject: str = OVERALL,
    rows: int | None = None,
) -> Change:
    """A metric's change from a paired comparison (branch = new, base = old).

    The values shown default to the paired ones; the change and its band are the paired
    bootstrap's, on the rows both sides scored.
    """
    difference = paired.on(metric)
    raw = difference.delta if higher_is_better(metric) else -difference.delta
    shown_base = difference.old if base is None else base
    shown_branch = difference.new if branch is None else branch
    return judged(
        metric, shown_base, shown_branch, raw, z * difference.se, subject=subject, rows=rows
    )


def compare(
    base: Metrics | None,
    branch: Metrics,
    z: float,
    paired: Paired | None = None,
    rows: int | None = None,
) -> list[Change]:
    """Every metric of METRICS present on the branch, with its change versus the base.

    With `paired` (both models scored on the same `rows`), the change and its noise band come
    from the paired bootstrap; without, from the two metric files' values and errors.
    """
    changes = []
    for metric in METRICS:
        if metric not in branch:
            continue
        value = float(branch[metric])
        old = None if base is None or metric not in base else float(base[metric])
        if old is None:
            changes.append(
                Change(metric, None, value, None, None, False, 0, higher_is_better(metric))
            )
        elif paired is not None:
            changes.append(paired_change(metric, paired, z, old, value, rows=rows))
        else:
            se_old = float(base.get(f"{metric}_se", 0.0)) if base is not None else 0.0
            noise = noise_band(se_old, float(branch.get(f"{metric}_se", 0.0)), z)
            changes.append(judged(metric, old, value, value - old, noise))
    return changes


def _floor(metric: str, limit: float, value: float | None) -> Check:
    found = floor_check(metric, limit, value)
    return Check("floor", metric, limit, value, found.passed, True, found.detail)


def _max_drop(metric: str, limit: float, change: Change | None, rule: str = "max_drop") -> Check:
    subject = OVERALL if change is None else change.subject
    if change is None or change.base is None or change.delta is None:
        value = None if change is None else change.branch
        return Check(rule, metric, limit, value, True, False, "no baseline to compare", subject)
    worsening = -change.delta if change.higher_is_better else change.delta
    counted = change.beyond_noise and worsening > 0
    passed = not (counted and worsening > limit)
    name = metric if subject == OVERALL else f"{metric} in {subject}"
    if passed and counted:
        detail = f"{name} worsened by {worsening:.4f}, within the allowed {limit:g}"
    elif passed:
        detail = f"{name} did not worsen beyond noise (±{change.noise:.4f})"
    else:
        detail = (
            f"{name} worsened by {worsening:.4f} ({change.base:.4f} → {change.branch:.4f}), "
            f"beyond noise (±{change.noise:.4f}) and more than the allowed {limit:g}"
        )
    return Check(rule, metric, limit, change.branch, passed, True, detail, subject)


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


def check(
    gates: GatesParams,
    changes: list[Change],
    branch: Metrics,
    slice_changes: list[Change] | None = None,
) -> list[Check]:
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
    for metric, limit in gates.slice_max_drop.items():
        for change in slice_changes or []:
            if change.metric == metric:
                checks.append(_max_drop(metric, limit, change, "slice_max_drop"))
    return checks
