"""Metrics, bootstrap errors and plot data on small known inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gitops_ml import evaluate, figures
from gitops_ml.schema import FeatureSchema

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.05])


def test_score_known_values() -> None:
    """Each metric equals its hand-computed value on a tiny example."""
    m = evaluate.score(Y, P, threshold=0.5)
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
    assert set(m) == set(evaluate.METRICS)


def test_bootstrap_se_matches_binomial_error_and_is_seeded() -> None:
    """The bootstrap error of accuracy is close to sqrt(p(1-p)/n), and the seed fixes it."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    proba = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    se = evaluate.bootstrap_se(y, proba, 0.5, resamples=300, seed=7)
    acc = evaluate.score(y, proba, 0.5)["accuracy"]
    assert se["accuracy"] == pytest.approx(math.sqrt(acc * (1 - acc) / 2000), rel=0.15)
    assert se == evaluate.bootstrap_se(y, proba, 0.5, resamples=300, seed=7)
    assert se != evaluate.bootstrap_se(y, proba, 0.5, resamples=300, seed=8)
    assert all(v > 0 for v in se.values())


def test_curves_are_thinned_and_span_the_unit_square() -> None:
    """ROC and PR curves keep at most CURVE_POINTS points and their end points."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5000)
    proba = np.clip(y * 0.2 + rng.random(5000), 0, 1)
    roc = evaluate.roc_points(y, proba)
    assert len(roc) <= evaluate.CURVE_POINTS
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0.0, 0.0)
    assert (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert [p["fpr"] for p in roc] == sorted(p["fpr"] for p in roc)
    prc = evaluate.pr_points(y, proba)
    assert len(prc) <= evaluate.CURVE_POINTS
    assert prc[-1] == {"recall": 0.0, "precision": 1.0}


def test_calibration_of_a_calibrated_score() -> None:
    """Scores drawn as true probabilities give observed rates close to predicted ones."""
    rng = np.random.default_rng(3)
    proba = rng.random(20000)
    y = (rng.random(20000) < proba).astype(int)
    points = evaluate.calibration_points(y, proba)
    assert len(points) == 10
    for p in points:
        assert p["observed"] == pytest.approx(p["predicted"], abs=0.05)


def test_confusion_rows_and_counts_agree() -> None:
    """Rows carry the data's labels and add up to the counts."""
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = evaluate.confusion_rows(Y, P, 0.5, schema)
    counts = evaluate.confusion_counts(Y, P, 0.5)
    assert counts == {"tp": 2, "fp": 1, "tn": 4, "fn": 1}
    assert rows[3] == {"actual": "churned", "predicted": "churned"}
    assert rows[2] == {"actual": "churned", "predicted": "stayed"}
    assert sum(r == {"actual": "stayed", "predicted": "stayed"} for r in rows) == counts["tn"]


def test_figures_are_deterministic_pngs(tmp_path: Path) -> None:
    """The same plot data always gives the same PNG bytes."""
    plots = {
        "roc": evaluate.roc_points(Y, P),
        "prc": evaluate.pr_points(Y, P),
        "calibration": evaluate.calibration_points(Y, P, bins=2),
        "confusion": evaluate.confusion_rows(Y, P, 0.5, FeatureSchema("t", "1", "0", (), ())),
        "importance": [{"feature": "a", "importance": 0.1, "std": 0.01}],
    }
    first = figures.render_all(plots, tmp_path / "a")
    second = figures.render_all(plots, tmp_path / "b")
    assert [p.name for p in first] == [
        "roc.png",
        "prc.png",
        "calibration.png",
        "confusion.png",
        "importance.png",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes().startswith(b"\x89PNG")
        assert a.read_bytes() == b.read_bytes()
