"""The model's input matrix computed with numpy alone, from the fitted preprocessing.

What the pipeline's ColumnTransformer computes (impute, scale, one-hot), read off its fitted
state and redone without pandas or scikit-learn's per-call checks: on one record that machinery
costs milliseconds, the arithmetic microseconds. The same operations in the same order give
the same float64 values (the fidelity check in `serving.scoring` holds every derived scorer to
it; `numpy_encoded` checks the matrix itself, bit for bit, before evaluate uses it).

Only the preprocessing `core.model.build_pipeline` builds is read; anything else (another
imputer strategy, a column dropped as empty in training, infrequent categories) raises
`NotConvertibleError` and the pipeline is scored by scikit-learn instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import category_label

# A frame, or a mapping of feature name to an array of its values.
Columns = Mapping[str, Any] | pd.DataFrame
# Below this many rows a dict lookup per value beats pandas' vectorised indexer, whose fixed
# cost per call is tens of microseconds.
_LOOKUP_ROWS = 64


class NotConvertibleError(Exception):
    """The fitted pipeline holds something the compiled path does not reproduce."""


@dataclass(frozen=True)
class NumericColumn:
    """One numeric feature: the value that fills a missing one, then (x - mean) / scale."""

    name: str
    fill: float
    mean: float | None
    scale: float | None


@dataclass(frozen=True)
class CategoricalColumn:
    """One categorical feature: the text that fills a missing one, and its one-hot positions."""

    name: str
    fill: str
    categories: tuple[str, ...]

    def codes(self, values: Any) -> np.ndarray:
        """Position of each value among the categories; -1 for a value training never saw."""
        index = self._index()
        fill = index.get(self.fill, -1)  # the fill text may itself be unseen: no column set
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            # Label and look up each category once, then map the codes: nothing per row, so a
            # column read from a file's dictionary is never relabelled row by row.
            labels = [category_label(c) for c in values.cat.categories]
            lookup = np.array([fill if x is None else index.get(x, -1) for x in labels] + [fill])
            return np.asarray(lookup[values.cat.codes.to_numpy()], dtype=np.intp)
        if isinstance(values, pd.Series):
            # A frame's text column is indexed as it is, Arrow strings included: a conversion
            # to Python objects would cost more than the lookup.
            missing = values.isna().to_numpy()
            codes = pd.Index(self.categories, dtype=object).get_indexer(pd.Index(values))
        else:
            array = np.asarray(values, dtype=object)
            missing = pd.isna(array)
            if len(array) <= _LOOKUP_ROWS:
                found = [
                    fill if gone else index.get(v, -1)
                    for v, gone in zip(array, missing, strict=True)
                ]
                return np.array(found, dtype=np.intp)
            codes = pd.Index(self.categories, dtype=object).get_indexer(pd.Index(array))
        codes[missing] = fill
        return codes

    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.categories)}


@dataclass(frozen=True)
class Encoding:
    """The preprocessing of a fitted pipeline: numeric columns first, then one-hot blocks."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]

    @property
    def width(self) -> int:
        """Columns of the matrix the estimator takes."""
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    def matrix(self, columns: Columns) -> np.ndarray:
        """The estimator's input for feature columns (a frame or a mapping of arrays)."""
        n = len(np.asarray(columns[self._first()]))
        out = np.zeros((n, self.width), dtype=np.float64)
        for j, col in enumerate(self.numeric):
            values = np.array(columns[col.name], dtype=np.float64)
            values[np.isnan(values)] = col.fill
            # Subtract, then divide, as StandardScaler does: the same float64 results.
            if col.mean is not None:
                values -= col.mean
            if col.scale is not None:
                values /= col.scale
            out[:, j] = values
        offset = len(self.numeric)
        # One-hot through flat positions: faster than indexing rows and columns as pairs.
        flat, starts = out.reshape(-1), np.arange(n) * self.width
        for cat in self.categorical:
            codes = cat.codes(columns[cat.name])
            flat[(starts + (offset + codes))[codes >= 0]] = 1.0
            offset += len(cat.categories)
        return out

    def _first(self) -> str:
        return (self.numeric[0] if self.numeric else self.categorical[0]).name


def _steps(transformer: Any, name: str) -> list[Any]:
    if not isinstance(transformer, Pipeline):
        raise NotConvertibleError(f"the {name} preprocessing is not a Pipeline")
    return [step for _, step in transformer.steps]


def _numeric(transformer: Any, names: list[str]) -> list[NumericColumn]:
    steps = _steps(transformer, "numeric")
    if len(steps) != 2 or not isinstance(steps[0], SimpleImputer):
        raise NotConvertibleError("numeric preprocessing other than imputer + scaler")
    imputer, scaler = steps
    if not isinstance(scaler, StandardScaler) or imputer.add_indicator:
        raise NotConvertibleError("numeric preprocessing other than imputer + scaler")
    fills = np.asarray(imputer.statistics_, dtype=np.float64)
    if len(fills) != len(names) or np.isnan(fills).any():
        # scikit-learn drops a column that was empty in training: the widths would differ.
        raise NotConvertibleError("a numeric column had no value in training")
    means = scaler.mean_ if scaler.with_mean else None
    scales = scaler.scale_ if scaler.with_std else None
    return [
        NumericColumn(
            name,
            float(fills[i]),
            None if means is None else float(means[i]),
            None if scales is None else float(scales[i]),
        )
        for i, name in enumerate(names)
    ]


def _categorical(transformer: Any, names: list[str]) -> list[CategoricalColumn]:
    steps = _steps(transformer, "categorical")
    if len(steps) != 2 or not isinstance(steps[0], SimpleImputer):
        raise NotConvertibleError("categorical preprocessing other than imputer + one-hot")
    imputer, encoder = steps
    if (
        not isinstance(encoder, OneHotEncoder)
        or imputer.strategy != "constant"
        or imputer.add_indicator
        or encoder.drop is not None
        or encoder.handle_unknown != "ignore"
        or getattr(encoder, "_infrequent_enabled", False)
    ):
        raise NotConvertibleError("categorical preprocessing other than imputer + one-hot")
    out = []
    for name, categories in zip(names, encoder.categories_, strict=True):
        if not all(isinstance(c, str) for c in categories):
            raise NotConvertibleError(f"categories of {name!r} that are not text")
        out.append(CategoricalColumn(name, str(imputer.fill_value), tuple(categories)))
    return out


def encoding_of(pipeline: Any, schema: FeatureSchema) -> Encoding:
    """The encoding of a fitted `core.model` pipeline; NotConvertibleError for anything else."""
    steps = getattr(pipeline, "steps", None)
    if not steps or not isinstance(steps[0][1], ColumnTransformer):
        raise NotConvertibleError("the pipeline does not start with a ColumnTransformer")
    numeric: list[NumericColumn] = []
    categorical: list[CategoricalColumn] = []
    for name, transformer, columns in steps[0][1].transformers_:
        if name == "remainder" and transformer == "drop":
            continue
        if name == "numeric" and list(columns) == list(schema.numeric):
            numeric = _numeric(transformer, list(columns)) if columns else []
        elif name == "categorical" and list(columns) == list(schema.categorical):
            categorical = _categorical(transformer, list(columns)) if columns else []
        else:
            raise NotConvertibleError(f"an unexpected preprocessing step {name!r}")
    encoding = Encoding(tuple(numeric), tuple(categorical))
    if encoding.width == 0 or encoding.width != getattr(steps[-1][1], "n_features_in_", -1):
        raise NotConvertibleError("the estimator takes another number of columns")
    return encoding


class EncodingTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """An `Encoding` as a fitted scikit-learn transformer, for tools that take a pipeline."""

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding

    def fit(self, x: Any, y: Any = None) -> EncodingTransformer:
        """Nothing to learn: the encoding was read off a fitted pipeline."""
        return self

    def transform(self, x: Columns) -> np.ndarray:
        """The estimator's input matrix."""
        return self.encoding.matrix(x)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def numpy_encoded(pipeline: Any, schema: FeatureSchema, sample: pd.DataFrame) -> Any:
    """`pipeline` with its ColumnTransformer swapped for the numpy encoding, when that gives
    bit for bit the matrix the ColumnTransformer gives on `sample`; else `pipeline` itself.

    For code that calls a pipeline many times on row permutations of one frame (permutation
    importance): each transform is column-wise and row by row, so agreeing on `sample` means
    agreeing on every permutation of its columns, and the estimator sees the same input. The
    encoding costs a fraction of the ColumnTransformer's per-call checks.
    """
    try:
        encoding = encoding_of(pipeline, schema)
        same = np.array_equal(
            encoding.matrix(sample), pipeline.steps[0][1].transform(sample), equal_nan=True
        )
    except NotConvertibleError:
        return pipeline
    if not same:
        return pipeline
    return Pipeline([("encoding", EncodingTransformer(encoding)), pipeline.steps[-1]])
