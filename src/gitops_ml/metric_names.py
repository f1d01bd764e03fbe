"""Names and directions of the evaluation metrics, importable without numpy, pandas or sklearn.

`gitops_ml.evaluate` defines the same constants; the report and the quality gate read them from
here so that they start fast. A test checks that the two agree.
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
