"""The numpy encoding inside evaluate's permutation importance: the same matrix bit for bit,
so the same importances as scikit-learn's pipeline, or the pipeline itself when not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from gitops_ml.core.encoding import Encoding, EncodingTransformer, numpy_encoded
from gitops_ml.core.model import build_pipeline, features
from gitops_ml.core.params import TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.pipeline.evaluate import importance

from ..support import datasets

MODELS = [
    {"type": "hist_gradient_boosting", "max_iter": 30},
    {"type": "random_forest", "n_estimators": 20, "max_depth": 6},
    {"type": "logistic_regression"},
]


def _fit(train: pd.DataFrame, schema: FeatureSchema, model: dict[str, Any]) -> Pipeline:
    pipeline = build_pipeline(schema, TrainParams.model_validate({"model": model}), seed=3)
    with threadpool_limits(limits=1):
        return pipeline.fit(features(train, schema), train[schema.target])


@pytest.mark.parametrize("spec", datasets.SPECS, ids=lambda s: s.name)
def test_importance_is_what_scikit_learn_computes_on_the_pipeline(
    spec: datasets.Spec, tmp_path: Path
) -> None:
    """On datasets with missing values every way, numbers as text and many categories, every
    model type: the numpy-encoded pipeline is used, and the importances are scikit-learn's on
    the fitted pipeline itself, exactly."""
    train, test, schema = datasets.prepared(spec, tmp_path, 800)
    x, y = features(test, schema), test[schema.target].to_numpy()
    for model in MODELS:
        pipeline = _fit(train, schema, model)
        fast = numpy_encoded(pipeline, schema, x)
        assert isinstance(fast.steps[0][1], EncodingTransformer), model["type"]
        assert fast.steps[-1][1] is pipeline.steps[-1][1]
        got = importance(pipeline, x, y, schema, top=len(schema.features), seed=5)
        with threadpool_limits(limits=1):
            want = permutation_importance(
                pipeline, x, y, scoring="roc_auc", n_repeats=5, random_state=5, n_jobs=1
            )
        by_feature = dict(zip(x.columns, want.importances_mean, strict=True))
        assert {r["feature"] for r in got} == set(schema.features)
        for row in got:
            assert row["importance"] == pytest.approx(by_feature[row["feature"]], abs=5e-7)
        # Not merely close: the scores of every permuted copy are the same numbers.
        with threadpool_limits(limits=1):
            again = permutation_importance(
                fast, x, y, scoring="roc_auc", n_repeats=5, random_state=5, n_jobs=1
            )
        np.testing.assert_array_equal(again.importances, want.importances)


def test_a_matrix_that_differs_by_one_bit_keeps_the_pipeline(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the numpy encoding does not give the ColumnTransformer's matrix bit for bit on
    the rows at hand, the pipeline itself is used."""
    x = features(trained.test, trained.schema)
    assert numpy_encoded(trained.pipeline, trained.schema, x) is not trained.pipeline
    exact = Encoding.matrix

    def off_by_one_bit(self: Encoding, columns: Any) -> np.ndarray:
        out = exact(self, columns)
        out[0, 0] = np.nextafter(out[0, 0], np.inf)
        return out

    monkeypatch.setattr(Encoding, "matrix", off_by_one_bit)
    assert numpy_encoded(trained.pipeline, trained.schema, x) is trained.pipeline


def test_preprocessing_it_does_not_reproduce_keeps_the_pipeline(trained: Any) -> None:
    """A pipeline whose preprocessing the encoding does not read is used as it is."""
    pipeline = Pipeline([("model", trained.pipeline.steps[-1][1])])
    assert (
        numpy_encoded(pipeline, trained.schema, features(trained.test, trained.schema)) is pipeline
    )
