"""The model the template builds: a scikit-learn Pipeline with its preprocessing inside.

What `train.model` in params.yaml can build is defined here and nowhere else: training fits it,
tuning searches it, and every step that scores asks it for probabilities the same way. The
classes its fitted models hold are named in `core/model_types.py`: the allow-list of model files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
