"""Behavioural tests of the trained model: what it learns (some only on the example data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.dataset import prepare
from gitops_ml.core.model import features
from gitops_ml.core.params import LogisticRegressionParams, Params, RandomForestParams, TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import Table
from gitops_ml.pipeline.train import fit


@pytest.fixture(scope="module")
def fitted(params: Params, raw_frame: pd.DataFrame) -> tuple[object, pd.DataFrame, FeatureSchema]:
    """The configured model fitted on the default training split, and the test split."""
    train_split, test, schema = prepare(Table(raw_frame, Path(params.data.raw)), params.data, 0)
    return fit(train_split, schema, params.train, params.seed), test, schema


def _proba(model: object, frame: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    return model.predict_proba(features(frame, schema))[:, 1]  # type: ignore[attr-defined]


def _with(frame: pd.DataFrame, column: str, value: object) -> pd.DataFrame:
    out = frame.copy()
    if isinstance(out[column].dtype, pd.CategoricalDtype):
        out[column] = pd.Categorical([value] * len(out))
    else:
        out[column] = value
    return out


@pytest.mark.example_data  # telco domain knowledge
def test_month_to_month_contract_scores_higher_risk(fitted: tuple) -> None:
    """All else equal, a month-to-month contract scores more churn risk than a two-year one."""
    model, test, schema = fitted
    monthly = _proba(model, _with(test, "contract", "Month-to-month"), schema)
    two_year = _proba(model, _with(test, "contract", "Two year"), schema)
    assert (monthly > two_year).mean() > 0.9
    assert (monthly - two_year).mean() > 0.1


@pytest.mark.example_data  # telco domain knowledge
def test_gender_barely_moves_the_score(fitted: tuple) -> None:
    """Flipping the gender flag moves scores little on average and in no clear direction."""
    model, test, schema = fitted
    shift = _proba(model, _with(test, "female", 1.0), schema) - _proba(
        model, _with(test, "female", 0.0), schema
    )
    assert np.abs(shift).mean() < 0.03
    assert abs(shift.mean()) < 0.02
    assert np.median(np.abs(shift)) < 0.02


def test_unseen_category_and_missing_numbers_are_scored(fitted: tuple) -> None:
    """A category never seen in training and a missing number still give a probability."""
    model, test, schema = fitted
    category, number = schema.categorical[0], schema.numeric[0]
    odd = _with(_with(test.head(20), category, "never seen in training"), number, np.nan)
    proba = _proba(model, odd, schema)
    assert proba.shape == (20,)
    assert np.all((proba >= 0) & (proba <= 1))


@pytest.mark.example_data  # the AUC this data allows
@pytest.mark.parametrize(
    "model",
    [
        LogisticRegressionParams(type="logistic_regression", C=0.5),
        RandomForestParams(type="random_forest", n_estimators=30, min_samples_leaf=5),
    ],
)
def test_every_estimator_learns(
    model: LogisticRegressionParams | RandomForestParams, params: Params, raw_frame: pd.DataFrame
) -> None:
    """Each supported estimator, with balanced class weights, beats chance clearly."""
    from sklearn.metrics import roc_auc_score

    train_split, test, schema = prepare(Table(raw_frame, Path(params.data.raw)), params.data, 0)
    settings = TrainParams(model=model, class_weight="balanced")
    fitted_model = fit(train_split, schema, settings, seed=0)
    assert fitted_model.named_steps["model"].class_weight == "balanced"
    assert roc_auc_score(test[schema.target], _proba(fitted_model, test, schema)) > 0.8
