"""Gradient-boosting scores of column permutations, walking again only the trees they touch.

Permutation importance scores the model on the same rows once per feature and repeat, each
time with one feature's columns shuffled. A tree that never splits on those columns gives every
row the leaf it gave before, so its values are kept from the unshuffled rows and only the
other trees are walked again (on the default data about four trees in ten per feature). The
leaves are summed tree by tree from the baseline, in scikit-learn's order, so the scores are
scikit-learn's bit for bit; `reusing_trees` checks that on the unshuffled rows and otherwise
keeps the estimator itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline


class CachedTrees(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted two-class HistGradientBoostingClassifier with each tree's values on `base`
    kept: a matrix of `base`'s shape re-walks only the trees that split on a changed column."""

    def __init__(self, estimator: HistGradientBoostingClassifier, base: np.ndarray) -> None:
        self.estimator = estimator
        self.base = base

    def fit(self, x: Any, y: Any = None) -> CachedTrees:
        """Kept values, not learned ones: fitting is refused rather than silently ignored."""
        raise TypeError("CachedTrees wraps a fitted estimator; it is not fitted itself")

    @property
    def classes_(self) -> np.ndarray:
        """The wrapped estimator's classes."""
        return np.asarray(self.estimator.classes_)

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def decision_function(self, x: Any) -> np.ndarray:
        """The raw score of each row, as the estimator's `decision_function` gives it."""
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.shape != self.base.shape:
            return np.asarray(self.estimator.decision_function(matrix))
        changed = np.flatnonzero((matrix != self.base).any(axis=0))
        touched = np.asarray(self._splits[:, changed].any(axis=1))
        raw = np.full(len(matrix), self._baseline)
        # One tree after another from the baseline, as scikit-learn adds them.
        for tree, (predictor,) in enumerate(self.estimator._predictors):
            raw += self._predict(predictor, matrix) if touched[tree] else self._values[tree]
        return raw

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, through the estimator's own link function."""
        return np.asarray(self.estimator._loss.predict_proba(self.decision_function(x)[:, None]))

    def _predict(self, predictor: Any, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(predictor.predict(matrix, self._bitsets, self._feature_map, n_threads=1))

    @property
    def _baseline(self) -> float:
        return float(np.asarray(self.estimator._baseline_prediction).ravel()[0])

    def prepare(self) -> CachedTrees:
        """Walk every tree on `base` once and note which columns each splits on."""
        self._bitsets, self._feature_map = (
            self.estimator._bin_mapper.make_known_categories_bitsets()
        )
        predictors = [predictor for (predictor,) in self.estimator._predictors]
        self._values = np.array([self._predict(p, self.base) for p in predictors])
        self._splits = np.zeros((len(predictors), self.base.shape[1]), dtype=bool)
        for tree, predictor in enumerate(predictors):
            inner = predictor.nodes[predictor.nodes["is_leaf"] == 0]
            self._splits[tree, inner["feature_idx"]] = True
        return self


def reusing_trees(pipeline: Pipeline, x: Any) -> Pipeline:
    """`pipeline` with a two-class gradient-boosting estimator swapped for `CachedTrees` on
    the matrix of `x`, when that scores `x` bit for bit as the estimator does; else `pipeline`.

    For permutation importance on `x`: every shuffle of its columns has its shape.
    """
    estimator = pipeline.steps[-1][1]
    if not isinstance(estimator, HistGradientBoostingClassifier):
        return pipeline
    if estimator.n_trees_per_iteration_ != 1:
        return pipeline
    base = np.asarray(pipeline[:-1].transform(x), dtype=np.float64)
    cached = CachedTrees(estimator, base).prepare()
    same = np.array_equal(
        cached.decision_function(base), estimator.decision_function(base)
    ) and np.array_equal(cached.predict_proba(base), estimator.predict_proba(base))
    if not same:
        return pipeline
    return Pipeline([*pipeline.steps[:-1], ("trees", cached)])
