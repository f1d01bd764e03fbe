"""Drift statistics: PSI, quantile bins, tests and their correction behave as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml.monitoring import drift


def test_psi_of_identical_histograms_is_zero() -> None:
    """Equal shares give PSI 0; a known shift gives the textbook value."""
    counts = np.array([10, 20, 30, 40])
    assert drift.psi(counts, counts * 3) == pytest.approx(0.0)
    ref, cur = np.array([50, 50]), np.array([25, 75])
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert drift.psi(ref, cur) == pytest.approx(expected)


def test_empty_bin_is_floored_not_infinite() -> None:
    """A category absent from the reference gives a large but finite PSI."""
    value = drift.psi(np.array([100, 0]), np.array([80, 20]))
    assert np.isfinite(value)
    assert value > 1.0


def test_quantile_cuts_collapse_ties() -> None:
    """A 0/1 column gets bins that separate its two values, whatever the bin count."""
    values = np.array([0.0] * 70 + [1.0] * 30)
    cuts = drift.quantile_cuts(values, 10)
    counts = drift.bin_counts(values, cuts)
    assert counts[counts > 0].tolist() == [70, 30]


def test_numeric_comparison_detects_a_shift() -> None:
    """A shifted sample has a large PSI and a tiny KS p-value; a resample does not."""
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(0, 1, 5000))
    same = drift.compare_numeric(ref, pd.Series(rng.normal(0, 1, 2000)), bins=10)
    moved = drift.compare_numeric(ref, pd.Series(rng.normal(0.5, 1, 2000)), bins=10)
    assert same.psi < 0.03
    assert same.p_value > 0.01
    assert moved.psi > 0.2
    assert moved.p_value < 1e-10
    assert moved.test == "ks"
    assert sum(moved.distribution.reference) == pytest.approx(1.0)


def test_categorical_comparison_names_new_categories() -> None:
    """A new category appears in the distribution with a zero reference share."""
    ref = pd.Series(["a"] * 60 + ["b"] * 40)
    cur = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    result = drift.compare_categorical(ref, cur)
    assert result.distribution.labels == ["a", "b", "c"]
    assert result.distribution.reference == [0.6, 0.4, 0.0]
    assert result.test == "chi2"
    assert result.p_value < 0.001


def test_single_category_is_not_tested() -> None:
    """One category on both sides cannot drift: p-value 1."""
    result = drift.compare_categorical(pd.Series(["a"] * 10), pd.Series(["a"] * 5))
    assert result.p_value == 1.0
    assert result.psi == pytest.approx(0.0)


def test_benjamini_hochberg() -> None:
    """Adjusted p-values follow Benjamini-Hochberg: p * m / rank, made monotone."""
    adjusted = drift.adjust([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.0533333, 0.0533333, 0.5], rel=1e-4)
    assert drift.adjust([]) == []
