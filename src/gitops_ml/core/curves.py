"""Curve data of a model's probabilities: ROC, precision-recall and calibration points.

The evaluate stage writes these as eval/plots/*.json; the review and the figures read them.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from gitops_ml.core.metrics import rounded

# Curves are thinned to at most this many points: enough to draw, small enough to commit.
CURVE_POINTS = 200

Points = list[dict[str, float]]


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int))


def roc_points(y: np.ndarray, proba: np.ndarray) -> Points:
    """ROC curve, thinned to at most CURVE_POINTS points."""
    fpr, tpr, thr = roc_curve(y, proba, drop_intermediate=True)
    return [
        {"fpr": rounded(fpr[i]), "tpr": rounded(tpr[i]), "threshold": rounded(min(thr[i], 1.0))}
        for i in _thin(len(fpr))
    ]


def pr_points(y: np.ndarray, proba: np.ndarray) -> Points:
    """Precision-recall curve, thinned to at most CURVE_POINTS points."""
    precision, recall, _ = precision_recall_curve(y, proba, drop_intermediate=True)
    return [
        {"recall": rounded(recall[i]), "precision": rounded(precision[i])}
        for i in _thin(len(precision))
    ]


def calibration_points(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> Points:
    """Observed positive rate against mean predicted probability, in quantile bins."""
    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    return [
        {"predicted": rounded(p), "observed": rounded(o)}
        for p, o in zip(predicted, observed, strict=True)
    ]
