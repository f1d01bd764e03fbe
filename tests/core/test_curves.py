"""Plot data: ROC and precision-recall thinned to a bounded size, calibration in bins, confusion
records in the data's labels, capped on large data."""

from __future__ import annotations

import numpy as np
import pytest

from gitops_ml.core import curves
from gitops_ml.core.metrics import confusion_counts
from gitops_ml.core.schema import FeatureSchema


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


Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.05])


def test_confusion_rows_and_counts_agree() -> None:
    """Rows carry the data's labels and add up to the counts."""
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = curves.confusion_rows(Y, P, 0.5, schema)
    counts = confusion_counts(Y, P, 0.5)
    assert counts == {"tp": 2, "fp": 1, "tn": 4, "fn": 1}
    assert rows[3] == {"actual": "churned", "predicted": "churned"}
    assert rows[2] == {"actual": "churned", "predicted": "stayed"}
    assert sum(r == {"actual": "stayed", "predicted": "stayed"} for r in rows) == counts["tn"]


def test_confusion_rows_above_the_cap_keep_the_cells_proportions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the cap the plot data holds cap rows, each cell within one row of its share."""
    monkeypatch.setattr(curves, "CONFUSION_MAX_ROWS", 100)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 997)
    proba = np.clip(y * 0.25 + rng.random(997) * 0.75, 0, 1)
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = curves.confusion_rows(y, proba, 0.5, schema)
    counts = confusion_counts(y, proba, 0.5)
    assert len(rows) == 100
    cells = {
        "tp": ("churned", "churned"),
        "fn": ("churned", "stayed"),
        "fp": ("stayed", "churned"),
        "tn": ("stayed", "stayed"),
    }
    for name, (actual, predicted) in cells.items():
        shown = sum(r == {"actual": actual, "predicted": predicted} for r in rows)
        assert abs(shown - counts[name] * 100 / 997) < 1
