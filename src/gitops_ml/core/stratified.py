"""The seeded, stratified train/test split, owned here rather than imported.

It is scikit-learn's `train_test_split(..., stratify=y)` (StratifiedShuffleSplit as of 1.9),
step for step and draw for draw from the same `RandomState`, so it gives the rows scikit-learn
gives (the tests hold it to scikit-learn on many labels, sizes and seeds). Owned because the
split decides every metric downstream: it now depends on the data and the seed only, not on the
installed scikit-learn, and `prepare` does not import scikit-learn (about half a second of
SciPy at import) for it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def split_sizes(rows: int, test_size: float) -> tuple[int, int]:
    """Rows kept for training and held out for testing: the test share rounded up."""
    held_out = math.ceil(test_size * rows)
    return rows - held_out, held_out


def stratified_split(y: Any, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and test rows, each class split in proportion.

    The caller checks that every class has two rows and each side at least one per class.
    """
    labels = np.asarray(y)
    n_train, n_test = split_sizes(len(labels), test_size)
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    train_counts = _approximate_mode(counts, n_train, rng)
    test_counts = _approximate_mode(counts - train_counts, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for rows, n_in_train, n_in_test in zip(by_class, train_counts, test_counts, strict=True):
        shuffled = rows.take(rng.permutation(len(rows)), mode="clip")
        train.extend(shuffled[:n_in_train])
        test.extend(shuffled[n_in_train : n_in_train + n_in_test])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows to draw from each class: its share of `draws` rounded down, then the rows left
    over to the classes with the largest remainders, ties broken at random."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            now = min(len(tied), need)
            floored[rng.choice(tied, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return np.asarray(floored.astype(int))
