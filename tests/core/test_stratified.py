"""The owned stratified split gives the rows scikit-learn's train_test_split gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from gitops_ml.core.stratified import split_sizes, stratified_split


def _labels(rng: np.random.Generator, rows: int, shares: list[float]) -> pd.Series:
    names = np.array(["No", "Yes", "maybe", "3", "Ünknown"][: len(shares)], dtype=object)
    drawn = rng.choice(len(shares), size=rows, p=np.array(shares) / sum(shares))
    drawn[: 2 * len(shares)] = np.repeat(np.arange(len(shares)), 2)  # two rows of each
    return pd.Series(names[drawn], dtype="str", name="target")


CASES = [
    (rows, shares, test_size, seed)
    for rows, shares in [
        (7043, [0.73, 0.27]),
        (10, [0.5, 0.5]),
        (11, [0.7, 0.3]),
        (997, [0.99, 0.01]),
        (5000, [0.2, 0.3, 0.5]),
        (64, [1, 1, 1, 1]),  # ties in every remainder: broken by the generator
        (333, [0.4, 0.1, 0.2, 0.2, 0.1]),
    ]
    for test_size in (0.2, 0.25, 0.5, 0.33)
    for seed in (0, 42, 2**31 - 1)
]


@pytest.mark.parametrize(("rows", "shares", "test_size", "seed"), CASES)
def test_the_split_is_scikit_learn_s(
    rows: int, shares: list[float], test_size: float, seed: int
) -> None:
    """Same training and test positions, in the same order, as scikit-learn's."""
    y = _labels(np.random.default_rng(rows + seed), rows, shares)
    n_train, n_test = split_sizes(rows, test_size)
    assert n_train + n_test == rows
    train, test = stratified_split(y, test_size, seed)
    want_train, want_test = train_test_split(
        np.arange(rows), test_size=test_size, random_state=seed, stratify=y
    )
    np.testing.assert_array_equal(train, want_train)
    np.testing.assert_array_equal(test, want_test)
    assert len(test) == n_test
    assert sorted([*train, *test]) == list(range(rows))


def test_each_class_keeps_its_share() -> None:
    """Every class is split in proportion: its test rows are its share of the test set."""
    y = _labels(np.random.default_rng(1), 2000, [0.9, 0.1])
    train, test = stratified_split(y, 0.25, 7)
    assert (y.iloc[test] == "Yes").sum() == pytest.approx(0.25 * (y == "Yes").sum(), abs=1)
    assert (y.iloc[train] == "Yes").sum() == pytest.approx(0.75 * (y == "Yes").sum(), abs=1)
