"""Drift statistics of one feature, reference against current: PSI, KS, chi-squared, histograms.

Pure functions of arrays and Series; missing values are left out here (the monitor reports
missingness as a data-quality check of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp

# Floor of a bin's share in PSI: an empty bin would make the log ratio infinite.
EPSILON = 1e-4
HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class Distribution:
    """Shares of reference and current values per bin or category, ready to draw."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class Comparison:
    """One feature's drift statistics (before any correction for multiple testing)."""

    psi: float
    test: str
    statistic: float
    p_value: float
    distribution: Distribution


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins."""
    ref = np.clip(reference_counts / max(reference_counts.sum(), 1), EPSILON, None)
    cur = np.clip(current_counts / max(current_counts.sum(), 1), EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def quantile_cuts(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner cut points at the reference's quantiles; ties collapse (a 0/1 column gets 2 bins)."""
    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.asarray(np.unique(inner))


def bin_counts(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Counts per bin: (-inf, c1], (c1, c2], ..., (ck, inf)."""
    return np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)


def compare_numeric(reference: pd.Series, current: pd.Series, bins: int) -> Comparison:
    """PSI over reference-quantile bins and the two-sample Kolmogorov-Smirnov test."""
    ref = reference.dropna().to_numpy(dtype="float64")
    cur = current.dropna().to_numpy(dtype="float64")
    cuts = quantile_cuts(ref, bins)
    result = ks_2samp(ref, cur)
    return Comparison(
        psi=psi(bin_counts(ref, cuts), bin_counts(cur, cuts)),
        test="ks",
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        distribution=histogram(ref, cur),
    )


def histogram(reference: np.ndarray, current: np.ndarray) -> Distribution:
    """Shares in equal-width bins over the central 99% of both samples (tails in the end bins)."""
    both = np.concatenate([reference, current])
    low, high = np.quantile(both, [0.005, 0.995])
    if high <= low:
        low, high = float(both.min()), float(both.max())
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    ref = np.histogram(np.clip(reference, low, high), edges)[0]
    cur = np.histogram(np.clip(current, low, high), edges)[0]
    labels = [f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(HISTOGRAM_BINS)]
    return Distribution(labels, _shares(ref), _shares(cur))


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def value_counts(series: pd.Series) -> pd.Series:
    """Count of each present value, indexed by its text (fast on `category` columns)."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    counts.index = counts.index.astype("string")
    # Values that differ but print alike (1 and "1") are one category in text.
    return counts.groupby(level=0, sort=False).sum()


def category_counts(reference: pd.Series, current: pd.Series) -> tuple[list[str], np.ndarray]:
    """Categories seen in either sample (reference order first) and a 2 x k table of counts."""
    ref = value_counts(reference).sort_values(ascending=False, kind="stable")
    cur = value_counts(current).sort_values(ascending=False, kind="stable")
    labels = [*ref.index.tolist(), *(c for c in cur.index.tolist() if c not in ref.index)]
    table = np.vstack(
        [ref.reindex(labels, fill_value=0).to_numpy(), cur.reindex(labels, fill_value=0)]
    )
    return [str(label) for label in labels], table.astype("int64")


def compare_categorical(reference: pd.Series, current: pd.Series) -> Comparison:
    """PSI over category frequencies and the chi-squared test of homogeneity."""
    labels, table = category_counts(reference, current)
    if table.shape[1] < 2 or table[1].sum() == 0:
        statistic, p_value = 0.0, 1.0
    else:
        result = chi2_contingency(table, correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return Comparison(
        psi=psi(table[0], table[1]),
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        distribution=Distribution(labels, _shares(table[0]), _shares(table[1])),
    )


def adjust(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (compare each with the significance level)."""
    if not p_values:
        return []
    return [float(p) for p in false_discovery_control(np.asarray(p_values), method="bh")]
