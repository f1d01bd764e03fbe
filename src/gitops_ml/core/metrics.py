"""Scoring a model's probabilities: every metric, and its bootstrap standard error.

The one metrics core: the evaluate stage, the promotion's champion rule and monitoring all score
through here, so a metric and its error mean the same wherever they are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics as m

from gitops_ml.core.metric_rules import METRICS, higher_is_better, improvement

# Metrics computed on predicted probabilities, and on labels at the decision threshold.
SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")
LABEL_METRICS = ("f1", "precision", "recall", "accuracy")
# Digits kept in every reported metric, so outputs are stable across platforms.
DIGITS = 6
# Above this many rows, bootstrap resamples of a seeded subsample of this size are scored and
# the errors rescaled by sqrt(subsample / n), the 1/sqrt(n) law of standard errors: the cost
# stays flat on large test sets, and test sets up to the cap are used whole.
BOOTSTRAP_MAX_ROWS = 50_000

Metric = Callable[[np.ndarray, np.ndarray], float]


def rounded(value: float) -> float:
    """A metric as reported: a float rounded to DIGITS digits."""
    return round(float(value), DIGITS)


def _metric_functions() -> dict[str, Metric]:
    return {
        "roc_auc": m.roc_auc_score,
        "average_precision": m.average_precision_score,
        "log_loss": lambda y, p: m.log_loss(y, p, labels=[0, 1]),
        "brier": m.brier_score_loss,
        "f1": lambda y, yhat: m.f1_score(y, yhat, zero_division=0),
        "precision": lambda y, yhat: m.precision_score(y, yhat, zero_division=0),
        "recall": lambda y, yhat: m.recall_score(y, yhat, zero_division=0),
        "accuracy": m.accuracy_score,
    }


def score(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of METRICS for true labels `y` (0/1) and positive-class probabilities."""
    functions = _metric_functions()
    labels = (proba >= threshold).astype(np.int8)
    out = {name: float(functions[name](y, proba)) for name in SCORE_METRICS}
    out.update({name: float(functions[name](y, labels)) for name in LABEL_METRICS})
    return out


def subsample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of `size` of `n` rows, drawn without replacement (all when n ≤ size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _bootstrap(
    y: np.ndarray, probas: Sequence[np.ndarray], threshold: float, resamples: int, seed: int
) -> tuple[list[pd.DataFrame], float]:
    """Every metric of each model on the same `resamples` bootstrap resamples of the rows.

    Returns one table per model (a row per resample) and the factor that rescales standard
    errors measured on a subsample to the full test set (1.0 when there was none).
    """
    n = len(y)
    factor = 1.0
    if n > BOOTSTRAP_MAX_ROWS:
        keep = subsample(n, BOOTSTRAP_MAX_ROWS, seed)
        y, probas = y[keep], [p[keep] for p in probas]
        factor = float(np.sqrt(BOOTSTRAP_MAX_ROWS / n))
    rng = np.random.default_rng(seed)
    rows: list[list[dict[str, float]]] = [[] for _ in probas]
    # The resamples are valid inputs by construction; sklearn's per-call checks dominate cost.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        for _ in range(resamples):
            idx = rng.integers(0, len(y), len(y))
            if y[idx].min() == y[idx].max():
                continue
            for table, proba in zip(rows, probas, strict=True):
                table.append(score(y[idx], proba[idx], threshold))
    return [pd.DataFrame(table, columns=list(METRICS)) for table in rows], factor


def bootstrap_se(
    y: np.ndarray, proba: np.ndarray, threshold: float, resamples: int, seed: int
) -> dict[str, float]:
    """Standard error of each metric over `resamples` bootstrap resamples of the test set."""
    (table,), factor = _bootstrap(y, [proba], threshold, resamples, seed)
    return _errors(table, factor)


def _errors(table: pd.DataFrame, factor: float) -> dict[str, float]:
    return {name: float(table[name].std(ddof=1)) * factor for name in METRICS}


@dataclass(frozen=True)
class Scores:
    """One model's metrics on a test set, each with its bootstrap standard error (rounded)."""

    metrics: dict[str, float]
    se: dict[str, float]

    def flat(self) -> dict[str, float]:
        """As eval/metrics.json holds them: `name` and `name_se` for every metric."""
        out: dict[str, float] = {}
        for name in METRICS:
            out[name] = self.metrics[name]
            out[f"{name}_se"] = self.se[name]
        return out


def _scores(point: dict[str, float], errors: dict[str, float]) -> Scores:
    return Scores(
        metrics={k: rounded(point[k]) for k in METRICS}, se={k: rounded(errors[k]) for k in METRICS}
    )


def scores(y: np.ndarray, proba: np.ndarray, threshold: float, resamples: int, seed: int) -> Scores:
    """Every metric of a model's probabilities, with its bootstrap standard error."""
    point = score(y, proba, threshold)
    return _scores(point, bootstrap_se(y, proba, threshold, resamples, seed))


@dataclass(frozen=True)
class Paired:
    """Two models scored on the same rows and resamples, and how much better the first is."""

    new: Scores
    old: Scores
    metric: str
    delta: float
    delta_se: float


def paired_scores(
    y: np.ndarray,
    new: np.ndarray,
    old: np.ndarray,
    metric: str,
    threshold: float,
    resamples: int,
    seed: int,
) -> Paired:
    """Both models' scores and the standard error of the improvement, from ONE bootstrap.

    Each resample scores both models on the same rows, so the error of their difference is not
    inflated by rows only one of them saw. The resamples are those of `bootstrap_se` with the
    same seed, so each model's errors equal what the evaluate stage reports.
    """
    (new_table, old_table), factor = _bootstrap(y, [new, old], threshold, resamples, seed)
    sign = 1.0 if higher_is_better(metric) else -1.0
    diffs = sign * (new_table[metric] - old_table[metric])
    new_scores = _scores(score(y, new, threshold), _errors(new_table, factor))
    old_scores = _scores(score(y, old, threshold), _errors(old_table, factor))
    delta = rounded(improvement(metric, new_scores.metrics[metric], old_scores.metrics[metric]))
    se = float(diffs.std(ddof=1)) * factor if len(diffs) > 1 else 0.0
    return Paired(new_scores, old_scores, metric, delta, rounded(se))
