"""The evaluate stage's plot data: confusion rows in the data's labels, capped on large data."""

from __future__ import annotations

import numpy as np
import pytest

from gitops_ml.core.metrics import confusion_counts
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.pipeline import evaluate

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.05])


def test_confusion_rows_and_counts_agree() -> None:
    """Rows carry the data's labels and add up to the counts."""
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = evaluate.confusion_rows(Y, P, 0.5, schema)
    counts = confusion_counts(Y, P, 0.5)
    assert counts == {"tp": 2, "fp": 1, "tn": 4, "fn": 1}
    assert rows[3] == {"actual": "churned", "predicted": "churned"}
    assert rows[2] == {"actual": "churned", "predicted": "stayed"}
    assert sum(r == {"actual": "stayed", "predicted": "stayed"} for r in rows) == counts["tn"]


def test_confusion_rows_above_the_cap_keep_the_cells_proportions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the cap the plot data holds cap rows, each cell within one row of its share."""
    monkeypatch.setattr(evaluate, "CONFUSION_MAX_ROWS", 100)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 997)
    proba = np.clip(y * 0.25 + rng.random(997) * 0.75, 0, 1)
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = evaluate.confusion_rows(y, proba, 0.5, schema)
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
