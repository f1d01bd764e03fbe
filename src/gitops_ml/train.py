"""The train stage: a scikit-learn Pipeline with its preprocessing inside, fitted and saved."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gitops_ml.errors import UserError
from gitops_ml.params import (
    HistGradientBoostingParams,
    LogisticRegressionParams,
    Params,
    RandomForestParams,
    TrainParams,
)
from gitops_ml.schema import FeatureSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def build_estimator(params: TrainParams, seed: int) -> Any:
    """The configured classifier, seeded."""
    model = params.model
    hyper = model.model_dump(exclude={"type"})
    if isinstance(model, LogisticRegressionParams):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**hyper, class_weight=params.class_weight, random_state=seed)
    if isinstance(model, RandomForestParams):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            **hyper, class_weight=params.class_weight, random_state=seed, n_jobs=1
        )
    if isinstance(model, HistGradientBoostingParams):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            **hyper, class_weight=params.class_weight, random_state=seed
        )
    raise AssertionError(f"unhandled model type {model.type}")  # pragma: no cover


def build_pipeline(schema: FeatureSchema, params: TrainParams, seed: int) -> Pipeline:
    """Preprocessing (impute, scale, one-hot tolerant of unseen categories) plus the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    return Pipeline([("preprocess", columns), ("model", build_estimator(params, seed))])


def features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """The model's input columns of a prepared frame, in schema order (a view, not a copy)."""
    return frame[schema.features]


def fit(train: pd.DataFrame, schema: FeatureSchema, params: TrainParams, seed: int) -> Pipeline:
    """Fit the pipeline on the training split."""
    pipeline = build_pipeline(schema, params, seed)
    pipeline.fit(features(train, schema), train[schema.target])
    return pipeline


def save_model(pipeline: Pipeline, path: Path) -> None:
    """Save with skops (no pickle: loading it cannot run arbitrary code), byte-reproducibly."""
    import skops.io

    from gitops_ml.files import write_bytes

    write_bytes(path, canonical_skops(skops.io.dumps(pipeline)))


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive with deterministic names, so one model always has one hash.

    skops names its arrays and memo entries after `id()` of the objects (memory addresses)
    and stamps zip entries with the current time; both change on every run. Renumbering them
    in order of first appearance, consistently, keeps the archive's meaning and fixes its bytes.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = archive.read("schema.json").decode()
        ids: dict[str, int] = {}
        schema = re.sub(
            r'"__id__": (\d+)',
            lambda m: f'"__id__": {ids.setdefault(m.group(1), len(ids))}',
            schema,
        )
        files: dict[str, str] = {}
        schema = re.sub(
            r'"file": "(\d+)\.npy"',
            lambda m: f'"file": "{files.setdefault(m.group(1), f"{len(files):06d}")}.npy"',
            schema,
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as canonical:
            canonical.writestr(zipfile.ZipInfo("schema.json", _EPOCH), schema)
            for old, new in files.items():
                canonical.writestr(
                    zipfile.ZipInfo(f"{new}.npy", _EPOCH), archive.read(f"{old}.npy")
                )
    return out.getvalue()


# Types a model file of this pipeline may hold. skops refuses any other type unless trusted,
# which keeps a tampered file from running code or reading out of bounds when loaded.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def trusted_types(path: Path) -> list[str]:
    """The non-default types in a skops file, refusing any outside scikit-learn and numpy."""
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    unexpected = [t for t in found if not t.startswith(_TRUSTED_PREFIXES)]
    if unexpected:
        raise UserError(f"{path}: refusing to load a model holding unexpected types {unexpected}")
    return list(found)


def load_model(path: Path) -> Pipeline:
    """Load a model saved by `save_model`."""
    import skops.io

    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    return skops.io.load(path, trusted=trusted_types(path))


def run(prepared: Path, model_path: Path, params: Params) -> Pipeline:
    """Fit on `prepared/train.parquet`, save to `model_path`, and log the run to MLflow."""
    from gitops_ml import tracking

    schema = FeatureSchema.read(prepared / "schema.json")
    train = pd.read_parquet(prepared / "train.parquet")
    pipeline = fit(train, schema, params.train, params.seed)
    save_model(pipeline, model_path)
    tracking.log_training(
        pipeline=pipeline,
        model_path=model_path,
        example=features(train, schema).head(5),
        params=params,
        data_files=[prepared / "train.parquet", prepared / "test.parquet"],
    )
    return pipeline
