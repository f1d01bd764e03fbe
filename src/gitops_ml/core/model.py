"""The model the template builds: a scikit-learn Pipeline with its preprocessing inside.

What `train.model` in params.yaml can build is defined here and nowhere else: training fits it,
tuning searches it, every step that scores asks it for probabilities the same way, and the
trust policy of model files (`infra/model_files.py`) allows exactly the classes listed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn._loss._loss import CyHalfBinomialLoss
from sklearn._loss.link import Interval, LogitLink
from sklearn._loss.loss import HalfBinomialLoss
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

from gitops_ml.core.params import (
    HistGradientBoostingParams,
    LogisticRegressionParams,
    RandomForestParams,
    TrainParams,
)
from gitops_ml.core.schema import FeatureSchema

# Rows scored per predict_proba call: bounds the preprocessed copy of a large frame in memory.
PREDICT_CHUNK_ROWS = 250_000
# The estimator's step name in the pipeline; scikit-learn prefixes its hyperparameters with it.
ESTIMATOR_STEP = "model"

# Every class a fitted pipeline of this module holds: the preprocessing all of them share, and
# per `train.model.type` the estimator with the classes its fitted state keeps (trees, binning,
# loss). Model files may hold these classes and nothing else (infra/model_files.py), so an
# estimator added to `build_estimator` gets its entry here in the same change; a test fits each
# type and checks that its saved file holds exactly these.
PREPROCESSING_CLASSES: tuple[type, ...] = (
    Pipeline,
    ColumnTransformer,
    SimpleImputer,
    StandardScaler,
    OneHotEncoder,
)
ESTIMATOR_CLASSES: dict[str, tuple[type, ...]] = {
    "logistic_regression": (LogisticRegression,),
    "random_forest": (RandomForestClassifier, DecisionTreeClassifier, Tree),
    "hist_gradient_boosting": (
        HistGradientBoostingClassifier,
        _BinMapper,
        TreePredictor,
        LabelEncoder,
        HalfBinomialLoss,
        CyHalfBinomialLoss,
        LogitLink,
        Interval,
    ),
}


def model_classes() -> tuple[type, ...]:
    """Every class a fitted pipeline built here can hold, whatever `train.model.type` is."""
    estimators = [cls for classes in ESTIMATOR_CLASSES.values() for cls in classes]
    return tuple(dict.fromkeys([*PREPROCESSING_CLASSES, *estimators]))


def build_estimator(params: TrainParams, seed: int) -> Any:
    """The configured classifier, seeded."""
    model = params.model
    hyper = model.model_dump(exclude={"type"})
    if isinstance(model, LogisticRegressionParams):
        return LogisticRegression(**hyper, class_weight=params.class_weight, random_state=seed)
    if isinstance(model, RandomForestParams):
        return RandomForestClassifier(
            **hyper, class_weight=params.class_weight, random_state=seed, n_jobs=1
        )
    if isinstance(model, HistGradientBoostingParams):
        return HistGradientBoostingClassifier(
            **hyper, class_weight=params.class_weight, random_state=seed
        )
    raise AssertionError(f"unhandled model type {model.type}")  # pragma: no cover


def build_pipeline(schema: FeatureSchema, params: TrainParams, seed: int) -> Pipeline:
    """Preprocessing (impute, scale, one-hot tolerant of unseen categories) plus the estimator."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float32"),
    )
    columns = ColumnTransformer(
        [
            ("numeric", numeric, list(schema.numeric)),
            ("categorical", categorical, list(schema.categorical)),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", columns), (ESTIMATOR_STEP, build_estimator(params, seed))])


def features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """The model's input columns of a prepared frame, in schema order (a view, not a copy)."""
    return frame[schema.features]


def positive_proba(model: Any, x: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class for each row, scored in chunks on large frames."""
    if len(x) <= PREDICT_CHUNK_ROWS:
        return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
    return np.concatenate(
        [
            np.asarray(model.predict_proba(x.iloc[start : start + PREDICT_CHUNK_ROWS])[:, 1])
            for start in range(0, len(x), PREDICT_CHUNK_ROWS)
        ]
    ).astype(np.float64, copy=False)


def scored_split(
    model: Any, split: pd.DataFrame, schema: FeatureSchema
) -> tuple[np.ndarray, np.ndarray]:
    """A prepared split's labels (0/1) and the model's positive-class probabilities: how the
    evaluate stage scores the test split, and how the pull-request judge re-scores it."""
    y = split[schema.target].to_numpy(dtype=np.int8)
    return y, positive_proba(model, features(split, schema))
