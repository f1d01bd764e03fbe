"""The train stage: fit the model pipeline on the training split and save it.

MLflow is not imported here: `evaluate`, which always follows, logs the model with its metrics
(one import of MLflow per pipeline run).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from gitops_ml.core.model import build_pipeline, features
from gitops_ml.core.params import Params, TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.model_files import save_model

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def fit(train: pd.DataFrame, schema: FeatureSchema, params: TrainParams, seed: int) -> Pipeline:
    """Fit the pipeline on the training split."""
    pipeline = build_pipeline(schema, params, seed)
    pipeline.fit(features(train, schema), train[schema.target])
    return pipeline


def run(prepared: Path, model_path: Path, params: Params) -> Pipeline:
    """Fit on `prepared/train.parquet` and save to `model_path`."""
    schema = FeatureSchema.read(prepared / "schema.json")
    train = pd.read_parquet(prepared / "train.parquet")
    pipeline = fit(train, schema, params.train, params.seed)
    save_model(pipeline, model_path)
    return pipeline
