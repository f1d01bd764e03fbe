"""Scoring a model's probabilities: every metric, its bootstrap standard error, and paired
comparisons of two models on the same rows.

The one metrics core: the evaluate stage, the pull-request report, the promotion's champion
rule and monitoring all score through here, so a metric and its error mean the same wherever
they are shown.

Every metric is computed on weighted rows: the point estimate gives each row weight 1, and a
bootstrap resample gives each row the number of times it was drawn. All resamples are scored at
once from one matrix of weights, with the same values scikit-learn's functions give on the
resampled rows (the tests check it), at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

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
# Resamples scored per block: bounds the weight matrices in memory (block x rows floats).
_BLOCK_CELLS = 5_000_000


def rounded(value: float) -> float:
    """A metric as reported: a float rounded to DIGITS digits."""
    return round(float(value), DIGITS)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class _Ranked:
    """Rows sorted by score, highest first, grouped by equal score (tied rows are one group)."""

    order: np.ndarray
    starts: np.ndarray
    positive: np.ndarray  # of the sorted rows

    @classmethod
    def of(cls, y: np.ndarray, proba: np.ndarray) -> _Ranked:
        order = np.argsort(-proba, kind="stable")
        ranked = proba[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        return cls(order, starts, y[order] == 1)


def _weighted_metrics(
    y: np.ndarray, proba: np.ndarray, weights: np.ndarray, threshold: float, ranked: _Ranked
) -> dict[str, np.ndarray]:
    """Every metric for each row of `weights` (resamples x rows): one value per resample."""
    positive = y == 1
    total = weights.sum(axis=1)
    pos_total = weights @ positive
    neg_total = total - pos_total
    predicted = proba >= threshold
    tp = weights @ (positive & predicted)
    fp = weights @ (~positive & predicted)
    fn = pos_total - tp
    tn = neg_total - fp
    eps = np.finfo(proba.dtype).eps
    clipped = np.clip(proba, eps, 1 - eps)
    row_loss = -np.where(positive, np.log(clipped), np.log1p(-clipped))
    # Ranking metrics: per resample, the positive and negative weight of each group of tied
    # scores, from the highest score down.
    sorted_weights = weights[:, ranked.order]
    group_pos = np.add.reduceat(sorted_weights * ranked.positive, ranked.starts, axis=1)
    group_neg = np.add.reduceat(sorted_weights * ~ranked.positive, ranked.starts, axis=1)
    neg_above = np.cumsum(group_neg, axis=1)  # negatives scored at or above each group
    neg_below = neg_total[:, None] - neg_above
    # Mann-Whitney: a positive outranks the negatives below it, and half the tied ones.
    pairs = (group_pos * (neg_below + 0.5 * group_neg)).sum(axis=1)
    tp_above = np.cumsum(group_pos, axis=1)
    precision_at = _ratio(tp_above, tp_above + neg_above)
    return {
        "roc_auc": _ratio(pairs, pos_total * neg_total),
        "average_precision": _ratio((group_pos * precision_at).sum(axis=1), pos_total),
        "log_loss": _ratio(weights @ row_loss, total),
        "brier": _ratio(weights @ (proba - y) ** 2, total),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, pos_total),
        "accuracy": _ratio(tp + tn, total),
    }


def score(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of METRICS for true labels `y` (0/1) and positive-class probabilities."""
    y, proba = _arrays(y, proba)
    values = _weighted_metrics(y, proba, np.ones((1, len(y))), threshold, _Ranked.of(y, proba))
    return {name: float(values[name][0]) for name in METRICS}


def _arrays(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y, dtype=np.int8), np.asarray(proba, dtype=np.float64)


def subsample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of `size` of `n` rows, drawn without replacement (all when n ≤ size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def resample_weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Seeded bootstrap resamples of `n` rows, in blocks of rows of a matrix: how often each
    row is drawn in each resample (each resample draws `n` rows with replacement)."""
    rng = np.random.default_rng(seed)
    per_block = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, resamples, per_block):
        size = min(per_block, resamples - start)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)


def bootstrap(
    y: np.ndarray,
    probas: Sequence[np.ndarray],
    threshold: float | Sequence[float],
    resamples: int,
    seed: int,
) -> tuple[list[dict[str, np.ndarray]], float]:
    """Every metric of each model on the same `resamples` bootstrap resamples of the rows.

    `threshold` is one for all models or one per model. Returns, per model, each metric's value
    on every resample that holds both classes, and the factor that rescales a standard error
    measured on a subsample to the whole test set (1.0 when there was none).
    """
    thresholds = [threshold] * len(probas) if isinstance(threshold, float | int) else threshold
    y, _ = _arrays(y, probas[0])
    probas = [np.asarray(p, dtype=np.float64) for p in probas]
    n, factor = len(y), 1.0
    if n > BOOTSTRAP_MAX_ROWS:
        keep = subsample(n, BOOTSTRAP_MAX_ROWS, seed)
        y, probas = y[keep], [p[keep] for p in probas]
        factor = float(np.sqrt(BOOTSTRAP_MAX_ROWS / n))
    ranks = [_Ranked.of(y, p) for p in probas]
    values: list[dict[str, list[np.ndarray]]] = [{name: [] for name in METRICS} for _ in probas]
    for weights in resample_weights(len(y), resamples, seed):
        pos = weights @ (y == 1)
        both = (pos > 0) & (pos < weights.sum(axis=1))  # a one-class resample scores nothing
        weights = weights[both]
        for found, proba, cut, ranked in zip(values, probas, thresholds, ranks, strict=True):
            block = _weighted_metrics(y, proba, weights, float(cut), ranked)
            for name in METRICS:
                found[name].append(block[name])
    joined = [{name: np.concatenate(found[name]) for name in METRICS} for found in values]
    return joined, factor


def _std(values: np.ndarray, factor: float) -> float:
    return float(np.std(values, ddof=1)) * factor if len(values) > 1 else 0.0


def bootstrap_se(
    y: np.ndarray, proba: np.ndarray, threshold: float, resamples: int, seed: int
) -> dict[str, float]:
    """Standard error of each metric over `resamples` bootstrap resamples of the test set."""
    (values,), factor = bootstrap(y, [proba], threshold, resamples, seed)
    return {name: _std(values[name], factor) for name in METRICS}


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
    return _scores(score(y, proba, threshold), bootstrap_se(y, proba, threshold, resamples, seed))


def confusion_counts(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, int]:
    """True/false positives and negatives at the threshold."""
    labels = proba >= threshold
    positive = y == 1
    return {
        "tp": int((labels & positive).sum()),
        "fp": int((labels & ~positive).sum()),
        "tn": int((~labels & ~positive).sum()),
        "fn": int((~labels & positive).sum()),
    }


def metrics_file(
    y: np.ndarray, proba: np.ndarray, threshold: float, resamples: int, seed: int
) -> dict[str, float]:
    """What eval/metrics.json holds: every metric with its error, the test set's size and
    positive rate, and the confusion counts at the threshold."""
    return {
        **scores(y, proba, threshold, resamples, seed).flat(),
        "n_test": len(y),
        "positive_rate": rounded(float(np.mean(y))),
        **confusion_counts(y, proba, threshold),
    }


@dataclass(frozen=True)
class Difference:
    """How much better one model is than another on one metric, on the same rows."""

    metric: str
    new: float
    old: float
    delta: float  # improvement: positive = better, whichever way the metric points
    se: float  # standard error of `delta`, from the paired bootstrap


@dataclass(frozen=True)
class Paired:
    """Two models scored on the same rows and resamples, and how much better the first is."""

    new: Scores
    old: Scores
    differences: dict[str, Difference]

    def on(self, metric: str) -> Difference:
        """The difference on one metric."""
        return self.differences[metric]


def paired_scores(
    y: np.ndarray,
    new: np.ndarray,
    old: np.ndarray,
    threshold: float,
    resamples: int,
    seed: int,
    old_threshold: float | None = None,
) -> Paired:
    """Both models' scores and, for every metric, the standard error of the improvement, from
    ONE bootstrap.

    Each resample scores both models on the same rows, so the error of their difference is not
    inflated by rows only one of them saw. The resamples are those of `bootstrap_se` with the
    same seed, so each model's errors equal what the evaluate stage reports. The old model's
    labels are taken at `old_threshold` when given (its own), else at `threshold`.
    """
    old_cut = threshold if old_threshold is None else old_threshold
    (new_values, old_values), factor = bootstrap(
        y, [new, old], [threshold, old_cut], resamples, seed
    )
    new_errors = {k: _std(new_values[k], factor) for k in METRICS}
    old_errors = {k: _std(old_values[k], factor) for k in METRICS}
    new_scores = _scores(score(y, new, threshold), new_errors)
    old_scores = _scores(score(y, old, old_cut), old_errors)
    differences = {}
    for name in METRICS:
        sign = 1.0 if higher_is_better(name) else -1.0
        diffs = sign * (new_values[name] - old_values[name])
        differences[name] = Difference(
            metric=name,
            new=new_scores.metrics[name],
            old=old_scores.metrics[name],
            delta=rounded(improvement(name, new_scores.metrics[name], old_scores.metrics[name])),
            se=rounded(_std(diffs, factor)),
        )
    return Paired(new_scores, old_scores, differences)
