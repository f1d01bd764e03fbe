"""The metrics core: every metric, bootstrap errors (capped above a size), paired comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gitops_ml.core import metrics
from gitops_ml.core.metric_rules import METRICS, floor_check, floor_failures, improvement

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.05])


def test_score_known_values() -> None:
    """Each metric equals its hand-computed value on a tiny example."""
    m = metrics.score(Y, P, threshold=0.5)
    # Positives score 0.35, 0.8, 0.9; negatives 0.1, 0.4, 0.2, 0.6, 0.05: 13 of 15 pairs ordered.
    assert m["roc_auc"] == pytest.approx(13 / 15)
    # At 0.5: predicted positive 0.8, 0.9, 0.6 → TP 2, FP 1, FN 1, TN 4.
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["brier"] == pytest.approx(float(np.mean((P - Y) ** 2)))
    expected_ll = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P))
    assert m["log_loss"] == pytest.approx(float(expected_ll))
    assert set(m) == set(METRICS)


def _sklearn(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn import metrics as m

    label = proba >= threshold
    return {
        "roc_auc": m.roc_auc_score(y, proba),
        "average_precision": m.average_precision_score(y, proba),
        "log_loss": m.log_loss(y, proba, labels=[0, 1]),
        "brier": m.brier_score_loss(y, proba),
        "f1": m.f1_score(y, label, zero_division=0),
        "precision": m.precision_score(y, label, zero_division=0),
        "recall": m.recall_score(y, label, zero_division=0),
        "accuracy": m.accuracy_score(y, label),
    }


@pytest.mark.parametrize("seed", range(12))
def test_every_metric_equals_scikit_learns_on_the_rows_and_on_each_resample(seed: int) -> None:
    """Scored from weights, each metric is scikit-learn's own, ties and extreme scores included:
    on the rows (weight 1) and on every bootstrap resample (the rows drawn, repeated)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    proba = np.round(rng.random(n), int(rng.integers(1, 4)))  # coarse scores: many ties
    proba[:3] = [0.0, 1.0, 0.5]
    threshold = float(rng.choice([0.3, 0.5, 0.7]))
    assert metrics.score(y, proba, threshold) == pytest.approx(_sklearn(y, proba, threshold))
    (values,), factor = metrics.bootstrap(y, [proba], threshold, resamples=8, seed=seed)
    assert factor == 1.0
    drawn = [
        np.repeat(np.arange(n), w.astype(int))
        for block in metrics.resample_weights(n, 8, seed)
        for w in block
    ]
    both_classes = [rows for rows in drawn if 0 < y[rows].sum() < len(rows)]
    assert len(values["roc_auc"]) == len(both_classes)
    for i, rows in enumerate(both_classes):
        expected = _sklearn(y[rows], proba[rows], threshold)
        assert {name: values[name][i] for name in METRICS} == pytest.approx(expected)


def test_bootstrap_se_matches_binomial_error_and_is_seeded() -> None:
    """The bootstrap error of accuracy is close to sqrt(p(1-p)/n), and the seed fixes it."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    proba = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    se = metrics.bootstrap_se(y, proba, 0.5, resamples=300, seed=7)
    acc = metrics.score(y, proba, 0.5)["accuracy"]
    assert se["accuracy"] == pytest.approx(math.sqrt(acc * (1 - acc) / 2000), rel=0.15)
    assert se == metrics.bootstrap_se(y, proba, 0.5, resamples=300, seed=7)
    assert se != metrics.bootstrap_se(y, proba, 0.5, resamples=300, seed=8)
    assert all(v > 0 for v in se.values())


def test_subsample_is_seeded_sorted_and_whole_below_the_cap() -> None:
    """Up to the cap every row is kept; above it, a fixed sample of distinct rows in order."""
    assert metrics.subsample(50, 100, seed=1).tolist() == list(range(50))
    picked = metrics.subsample(1000, 100, seed=1)
    assert len(set(picked.tolist())) == 100
    assert picked.tolist() == sorted(picked.tolist())
    assert picked.tolist() == metrics.subsample(1000, 100, seed=1).tolist()
    assert picked.tolist() != metrics.subsample(1000, 100, seed=2).tolist()


def test_bootstrap_above_the_cap_estimates_the_full_sample_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Errors from a capped subsample, rescaled, match the binomial error of all n rows."""
    monkeypatch.setattr(metrics, "BOOTSTRAP_MAX_ROWS", 1000)
    rng = np.random.default_rng(1)
    n = 8000
    y = rng.integers(0, 2, n)
    proba = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    se = metrics.bootstrap_se(y, proba, 0.5, resamples=120, seed=7)
    acc = metrics.score(y, proba, 0.5)["accuracy"]
    # Without the rescaling the error would be that of 1000 rows: sqrt(8) ≈ 2.8 times larger.
    assert se["accuracy"] == pytest.approx(math.sqrt(acc * (1 - acc) / n), rel=0.25)


def test_scores_round_every_metric_and_flatten_as_metrics_json() -> None:
    """Scores keep six digits; `flat` names each error `<metric>_se`, as eval/metrics.json."""
    found = metrics.scores(Y, P, 0.5, resamples=30, seed=3)
    assert found.metrics["roc_auc"] == round(13 / 15, 6)
    flat = found.flat()
    assert set(flat) == set(METRICS) | {f"{m}_se" for m in METRICS}
    assert flat["roc_auc_se"] == found.se["roc_auc"]


def _pair(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype(np.int8)
    p = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    q = np.clip(y * 0.2 + rng.random(n) * 0.8, 0, 1)
    return y, p, q


def test_paired_bootstrap_matches_each_models_bootstrap_and_cancels_shared_noise() -> None:
    """Each model's errors equal `scores` with the same seed; identical predictions differ by
    exactly 0, different ones by a positive standard error."""
    y, p, q = _pair(400)
    both = metrics.paired_scores(y, p, q, 0.5, resamples=20, seed=1)
    assert both.new == metrics.scores(y, p, 0.5, resamples=20, seed=1)
    assert both.old == metrics.scores(y, q, 0.5, resamples=20, seed=1)
    auc = both.on("roc_auc")
    assert auc.delta == round(both.new.metrics["roc_auc"] - both.old.metrics["roc_auc"], 6)
    assert all(d.se > 0.0 for d in both.differences.values())
    same = metrics.paired_scores(y, p, p, 0.5, resamples=20, seed=1)
    assert all(d.se == 0.0 and d.delta == 0.0 for d in same.differences.values())


def test_paired_bootstrap_subsamples_above_the_cap_as_the_evaluate_stage_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the cap each model's errors are still those evaluate reports for it."""
    monkeypatch.setattr(metrics, "BOOTSTRAP_MAX_ROWS", 300)
    y, p, q = _pair(1200)
    both = metrics.paired_scores(y, p, q, 0.5, resamples=20, seed=2)
    assert both.new == metrics.scores(y, p, 0.5, resamples=20, seed=2)
    assert both.old == metrics.scores(y, q, 0.5, resamples=20, seed=2)
    # log_loss is better lower: the improvement is old minus new.
    loss = both.on("log_loss")
    assert loss.delta == round(both.old.metrics["log_loss"] - both.new.metrics["log_loss"], 6)


def test_directions_and_floors() -> None:
    """Improvement and floors read each metric's direction: log_loss has a ceiling."""
    assert improvement("roc_auc", 0.8, 0.7) == pytest.approx(0.1)
    assert improvement("log_loss", 0.3, 0.4) == pytest.approx(0.1)
    assert floor_check("roc_auc", 0.8, 0.81).detail == "roc_auc 0.8100 meets the floor 0.8"
    assert floor_check("log_loss", 0.45, 0.5).detail == "log_loss 0.5000 is above the ceiling 0.45"
    assert not floor_check("roc_auc", 0.8, None).passed
    assert floor_failures(
        {"log_loss": 0.5, "roc_auc": 0.9}, {"log_loss": 0.45, "roc_auc": 0.8}
    ) == ["log_loss 0.5000 is above the ceiling 0.45"]
