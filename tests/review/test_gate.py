"""The quality gate on in-memory metrics: the noise band, floors, allowed drops, must-improve."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gitops_ml.core.params import GatesParams
from gitops_ml.review import gate as gates

from .sample import metrics_with_se as _metrics


def _change(changes: list[gates.Change], metric: str) -> gates.Change:
    return next(c for c in changes if c.metric == metric)


def test_noise_band_combines_both_errors() -> None:
    """The band is z times the root of the summed squared errors."""
    assert gates.noise_band(0.03, 0.04, 2.0) == pytest.approx(0.1)


def test_change_beyond_noise_is_directional() -> None:
    """A rise beyond noise is better for roc_auc and worse for log_loss; a small one is neither."""
    base = _metrics(roc_auc=0.80, log_loss=0.40, f1=0.50)
    branch = _metrics(roc_auc=0.85, log_loss=0.45, f1=0.51)
    changes = gates.compare(base, branch, z=1.96)
    band = 1.96 * math.sqrt(2) * 0.01
    auc, loss, f1 = (_change(changes, m) for m in ("roc_auc", "log_loss", "f1"))
    assert auc.noise == pytest.approx(band)
    assert (auc.delta, auc.beyond_noise, auc.direction) == (pytest.approx(0.05), True, 1)
    assert (loss.beyond_noise, loss.direction, loss.higher_is_better) == (True, -1, False)
    assert (f1.beyond_noise, f1.direction) == (False, 0)
    assert [c.metric for c in changes] == ["roc_auc", "log_loss", "f1"]


def test_compare_without_base_has_no_deltas() -> None:
    """With no baseline every metric has a value but no change."""
    changes = gates.compare(None, _metrics(roc_auc=0.8), z=1.96)
    assert [(c.metric, c.base, c.branch, c.delta, c.direction) for c in changes] == [
        ("roc_auc", None, 0.8, None, 0)
    ]


def _gate(base: dict[str, float] | None, branch: dict[str, float], **rules: Any) -> list[Any]:
    settings = GatesParams(**rules)
    checks = gates.check(settings, gates.compare(base, branch, settings.noise_z), branch)
    return [(c.rule, c.metric, c.passed, c.applies) for c in checks]


def test_floor_is_a_minimum_or_a_maximum_by_direction() -> None:
    """roc_auc must reach its floor; log_loss must stay at or under its ceiling."""
    branch = _metrics(roc_auc=0.79, log_loss=0.45)
    assert _gate(None, branch, floors={"roc_auc": 0.80, "log_loss": 0.50}) == [
        ("floor", "roc_auc", False, True),
        ("floor", "log_loss", True, True),
    ]
    assert _gate(None, branch, floors={"roc_auc": 0.75, "log_loss": 0.40}) == [
        ("floor", "roc_auc", True, True),
        ("floor", "log_loss", False, True),
    ]


def test_floor_fails_when_metric_is_missing() -> None:
    """A floor on a metric the branch did not report fails rather than passing silently."""
    assert _gate(None, _metrics(roc_auc=0.9), floors={"f1": 0.5}) == [("floor", "f1", False, True)]


def test_max_drop_counts_only_beyond_noise() -> None:
    """A drop larger than allowed but within noise passes; beyond noise it fails."""
    base = _metrics(roc_auc=0.85)
    within = _metrics(roc_auc=0.83)  # drop 0.02 < band 0.0277
    beyond = _metrics(roc_auc=0.80)  # drop 0.05 > band
    assert _gate(base, within, max_drop={"roc_auc": 0.01}) == [("max_drop", "roc_auc", True, True)]
    assert _gate(base, beyond, max_drop={"roc_auc": 0.01}) == [("max_drop", "roc_auc", False, True)]
    assert _gate(base, beyond, max_drop={"roc_auc": 0.06}) == [("max_drop", "roc_auc", True, True)]


def test_max_drop_respects_lower_is_better() -> None:
    """For log_loss a rise is the drop; a fall is an improvement and always passes."""
    base = _metrics(log_loss=0.40)
    assert _gate(base, _metrics(log_loss=0.50), max_drop={"log_loss": 0.03}) == [
        ("max_drop", "log_loss", False, True)
    ]
    assert _gate(base, _metrics(log_loss=0.30), max_drop={"log_loss": 0.0}) == [
        ("max_drop", "log_loss", True, True)
    ]


def test_must_improve_needs_a_change_beyond_noise() -> None:
    """must_improve passes only on an improvement beyond noise, and is skipped with no base."""
    base = _metrics(roc_auc=0.80)
    assert _gate(base, _metrics(roc_auc=0.81), must_improve="roc_auc") == [
        ("must_improve", "roc_auc", False, True)
    ]
    assert _gate(base, _metrics(roc_auc=0.85), must_improve="roc_auc") == [
        ("must_improve", "roc_auc", True, True)
    ]
    assert _gate(None, _metrics(roc_auc=0.85), must_improve="roc_auc", max_drop={"roc_auc": 0}) == [
        ("max_drop", "roc_auc", True, False),
        ("must_improve", "roc_auc", True, False),
    ]


def test_gates_reject_unknown_metric() -> None:
    """A gate on a metric the evaluate stage does not compute is a params error."""
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        GatesParams(floors={"auc": 0.5})
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        GatesParams(must_improve="auc")
