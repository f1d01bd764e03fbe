"""Curve data: ROC and precision-recall thinned to a bounded size, calibration in bins."""

from __future__ import annotations

import numpy as np
import pytest

from gitops_ml.core import curves


def test_curves_are_thinned_and_span_the_unit_square() -> None:
    """ROC and PR curves keep at most CURVE_POINTS points and their end points."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5000)
    proba = np.clip(y * 0.2 + rng.random(5000), 0, 1)
    roc = curves.roc_points(y, proba)
    assert len(roc) <= curves.CURVE_POINTS
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0.0, 0.0)
    assert (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert [p["fpr"] for p in roc] == sorted(p["fpr"] for p in roc)
    prc = curves.pr_points(y, proba)
    assert len(prc) <= curves.CURVE_POINTS
    assert prc[-1] == {"recall": 0.0, "precision": 1.0}


def test_calibration_of_a_calibrated_score() -> None:
    """Scores drawn as true probabilities give observed rates close to predicted ones."""
    rng = np.random.default_rng(3)
    proba = rng.random(20000)
    y = (rng.random(20000) < proba).astype(int)
    points = curves.calibration_points(y, proba)
    assert len(points) == 10
    for p in points:
        assert p["observed"] == pytest.approx(p["predicted"], abs=0.05)
