"""Names and directions of the evaluation metrics, importable without numpy, pandas or sklearn.

The one definition of the metric set: `gitops_ml.evaluate` computes these, and the report and
the quality gate read them from here without paying for the heavy imports.
"""

from __future__ import annotations

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
