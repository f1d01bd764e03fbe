"""Plot data of a model's probabilities: ROC, precision-recall and calibration points, and the
confusion records.

The evaluate stage writes these as eval/plots/*.json; the review re-computes them when it
re-scores a pull request's model, and the figures draw them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from gitops_ml.core.metrics import rounded
from gitops_ml.core.schema import FeatureSchema

# Curves are thinned to at most this many points: enough to draw, small enough to commit.
CURVE_POINTS = 200
# Above this many test rows, the confusion plot data holds this many records in the exact
# proportions of the four cells (exact counts are tp/fp/tn/fn in metrics.json).
CONFUSION_MAX_ROWS = 10_000

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


def confusion_rows(
    y: np.ndarray, proba: np.ndarray, threshold: float, schema: FeatureSchema
) -> list[dict[str, str]]:
    """One {actual, predicted} row per test record, in the labels of the data.

    Above CONFUSION_MAX_ROWS records, CONFUSION_MAX_ROWS rows in the proportions of the four
    cells (largest remainders), grouped by cell: DVC's confusion template needs one row per
    record, and millions of them would bloat a committed file.
    """
    names = np.array([schema.negative_label, schema.positive_label])
    if len(y) > CONFUSION_MAX_ROWS:
        return _scaled_confusion(y, proba >= threshold, names)
    predicted = names[(proba >= threshold).astype(int)]
    return [
        {"actual": a, "predicted": p}
        for a, p in zip(names[y].tolist(), predicted.tolist(), strict=True)
    ]


def _scaled_confusion(y: np.ndarray, labels: np.ndarray, names: np.ndarray) -> list[dict[str, str]]:
    cells = [(a, p) for a in (0, 1) for p in (0, 1)]
    counts = np.array([int(((y == a) & (labels == bool(p))).sum()) for a, p in cells])
    exact = counts * CONFUSION_MAX_ROWS / counts.sum()
    scaled = np.floor(exact).astype(int)
    short = CONFUSION_MAX_ROWS - int(scaled.sum())
    scaled[np.argsort(-(exact - scaled), kind="stable")[:short]] += 1
    return [
        {"actual": str(names[a]), "predicted": str(names[p])}
        for (a, p), k in zip(cells, scaled.tolist(), strict=True)
        for _ in range(k)
    ]


def plot_data(
    y: np.ndarray, proba: np.ndarray, threshold: float, schema: FeatureSchema
) -> dict[str, list[dict[str, Any]]]:
    """Every plot file's data but feature importance (which needs the model), by plot name."""
    return {
        "roc": roc_points(y, proba),
        "prc": pr_points(y, proba),
        "calibration": calibration_points(y, proba),
        "confusion": confusion_rows(y, proba, threshold, schema),
    }
