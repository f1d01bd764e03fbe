"""Permutation importance re-walking only the trees a shuffled column reaches: scikit-learn's
scores bit for bit, the trees it skips really skipped, and the estimator itself otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from gitops_ml.core import permuted_trees
from gitops_ml.core.encoding import numpy_encoded
from gitops_ml.core.model import build_pipeline, features
from gitops_ml.core.params import TrainParams
from gitops_ml.core.permuted_trees import CachedTrees, reusing_trees
from gitops_ml.core.schema import FeatureSchema

from ..support import datasets

BOOSTING = {"type": "hist_gradient_boosting", "max_iter": 40}


def _fit(train: pd.DataFrame, schema: FeatureSchema, model: dict[str, Any]) -> Pipeline:
    pipeline = build_pipeline(schema, TrainParams.model_validate({"model": model}), seed=3)
    with threadpool_limits(limits=1):
        return pipeline.fit(features(train, schema), train[schema.target])


def _importances(pipeline: Any, x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    with threadpool_limits(limits=1):
        found = permutation_importance(
            pipeline, x, y, scoring="roc_auc", n_repeats=3, random_state=7, n_jobs=1
        )
    return np.asarray(found.importances)


@pytest.mark.parametrize("spec", datasets.SPECS, ids=lambda s: s.name)
def test_importances_are_scikit_learn_s_exactly(spec: datasets.Spec, tmp_path: Path) -> None:
    """On datasets with missing values, numbers as text and many categories, the reusing
    pipeline (on the numpy encoding or on the ColumnTransformer) gives every permuted copy the
    score scikit-learn's pipeline gives it."""
    train, test, schema = datasets.prepared(spec, tmp_path, 800)
    x, y = features(test, schema), test[schema.target].to_numpy()
    pipeline = _fit(train, schema, BOOSTING)
    want = _importances(pipeline, x, y)
    for base in (pipeline, numpy_encoded(pipeline, schema, x)):
        fast = reusing_trees(base, x)
        assert isinstance(fast.steps[-1][1], CachedTrees)
        np.testing.assert_array_equal(_importances(fast, x, y), want)
    assert np.abs(want).max() > 0  # some feature matters: the scores do move


def test_any_changed_columns_score_as_the_estimator(trained: Any) -> None:
    """One, several or every column changed (shuffled, set to extremes): the raw scores and
    probabilities are the estimator's, bit for bit."""
    x = features(trained.test, trained.schema).head(500)
    fast = reusing_trees(trained.pipeline, x)
    cached, estimator = fast.steps[-1][1], trained.pipeline.steps[-1][1]
    base = cached.base
    rng = np.random.default_rng(0)
    for columns in ([0], [base.shape[1] - 1], [1, 5, 9], list(range(base.shape[1]))):
        changed = base.copy()
        for col in columns:
            changed[:, col] = rng.permutation(changed[:, col])
        changed[:3, columns] = [[1e300], [-1e300], [0.0]]
        np.testing.assert_array_equal(
            cached.decision_function(changed), estimator.decision_function(changed)
        )
        np.testing.assert_array_equal(
            cached.predict_proba(changed), estimator.predict_proba(changed)
        )
    fewer = base[:10]  # another shape: the estimator scores it
    np.testing.assert_array_equal(cached.predict_proba(fewer), estimator.predict_proba(fewer))


def test_only_the_trees_splitting_on_a_changed_column_are_walked_again(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree that never splits on the changed column keeps its values from the base rows."""
    x = features(trained.test, trained.schema).head(300)
    cached = reusing_trees(trained.pipeline, x).steps[-1][1]
    walked: list[Any] = []
    walk = CachedTrees._predict

    def counting(self: CachedTrees, predictor: Any, matrix: np.ndarray) -> np.ndarray:
        walked.append(predictor)
        return walk(self, predictor, matrix)

    monkeypatch.setattr(CachedTrees, "_predict", counting)
    predictors = [p for (p,) in trained.pipeline.steps[-1][1]._predictors]
    counts = []
    for column in range(cached.base.shape[1]):
        splitting = [
            p for p in predictors if column in p.nodes["feature_idx"][p.nodes["is_leaf"] == 0]
        ]
        changed = cached.base.copy()
        changed[:, column] = changed[::-1, column]
        walked.clear()
        cached.decision_function(changed)
        assert walked == splitting, column
        counts.append(len(walked))
    assert max(counts) > 0
    assert sum(counts) < len(predictors) * len(counts) / 2  # most trees are skipped


def test_other_models_and_a_failed_check_keep_the_pipeline(
    trained: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A forest or a linear model is returned as it is; so is a boosting model whose kept
    values would not give the estimator's scores bit for bit."""
    spec = datasets.SPECS[0]
    train, test, schema = datasets.prepared(spec, tmp_path, 400)
    x = features(test, schema)
    for model in ({"type": "random_forest", "n_estimators": 5}, {"type": "logistic_regression"}):
        pipeline = _fit(train, schema, model)
        assert reusing_trees(pipeline, x) is pipeline

    x = features(trained.test, trained.schema).head(200)
    kept = CachedTrees.prepare

    def slightly_off(self: CachedTrees) -> CachedTrees:
        kept(self)
        self._values[0, 0] += 1e-12  # one row's score moves by a few units in the last place
        return self

    monkeypatch.setattr(permuted_trees.CachedTrees, "prepare", slightly_off)
    assert reusing_trees(trained.pipeline, x) is trained.pipeline
