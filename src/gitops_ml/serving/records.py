"""The pure core of serving and batch scoring: model inputs from records, labels from scores.

The frames built here hold exactly what `prepare` gives the model at training time: numeric
columns as float64 with NaN for missing, categorical columns as text with NaN for missing
(each value's label as `core.table.category_label` gives it: stripped, blank as missing, a
boolean `True` whether sent as true, "true" or read from a file as TRUE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import as_category, category_label

# Text whose missing values are NaN (pandas' default string dtype), which the imputer treats as
# missing; pd.NA would not be.
TEXT = pd.StringDtype(na_value=np.nan)


def _text(value: Any) -> Any:
    label = category_label(value)
    return np.nan if label is None else label


def columns_from_records(
    records: Sequence[Mapping[str, Any]], schema: FeatureSchema
) -> dict[str, np.ndarray]:
    """The model's input columns for validated records, as arrays: what a frame would hold."""
    columns: dict[str, np.ndarray] = {}
    for col in schema.numeric:
        # numpy turns None into NaN for a float array.
        columns[col] = np.array([r[col] for r in records], dtype=np.float64)
    for col in schema.categorical:
        columns[col] = np.array([_text(r[col]) for r in records], dtype=object)
    return columns


def frame_from_columns(
    columns: Mapping[str, Any] | pd.DataFrame, schema: FeatureSchema
) -> pd.DataFrame:
    """The model's input frame of `columns_from_records`' arrays."""
    data: dict[str, Any] = {col: columns[col] for col in schema.numeric}
    for col in schema.categorical:
        # Kept as object: pandas would convert text to Arrow strings, and the model's encoders
        # straight back, which costs more than the rest of building the frame.
        data[col] = pd.Series(columns[col], dtype=object, copy=False)
    return pd.DataFrame(data, columns=schema.features, copy=False)


def frame_from_records(records: Sequence[Mapping[str, Any]], schema: FeatureSchema) -> pd.DataFrame:
    """The model's input frame for validated records (mappings of feature name to value)."""
    return frame_from_columns(columns_from_records(records, schema), schema)


def model_input(frame: pd.DataFrame, schema: FeatureSchema, text: bool = True) -> pd.DataFrame:
    """The feature columns of a typed, cleaned frame as the model takes them (a new frame).

    Categorical columns hold each value's label as text, or with `text` False as `category`
    (what the compiled path reads, sparing a conversion per value): of the labels, or a
    `category` column as it came, whose categories the encoding labels once each
    (`core.encoding.CategoricalColumn.codes`).
    """
    columns: dict[str, Any] = {}
    for col in schema.numeric:
        columns[col] = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
    for col in schema.categorical:
        if not text and isinstance(frame[col].dtype, pd.CategoricalDtype):
            columns[col] = frame[col]
            continue
        # Each value's label, as prepare gave it to training, as text with NaN for missing (what
        # the imputer takes for missing).
        labelled = as_category(frame[col])
        columns[col] = labelled.astype(TEXT) if text else labelled
    return pd.DataFrame(columns, columns=schema.features, index=frame.index, copy=False)


def decision_threshold(override: float | None, stored: float | None, default: float) -> float:
    """serve.threshold when set, else the threshold stored with the model, else evaluate's.

    A registered version carries the threshold it was evaluated at, so it labels records the
    same wherever it is served; a deployment can still choose its own.
    """
    if override is not None:
        return override
    return stored if stored is not None else default


def is_positive(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Which probabilities get the positive label: those at or above `threshold`."""
    return np.asarray(proba >= threshold)


def labels(proba: np.ndarray, threshold: float, schema: FeatureSchema) -> np.ndarray:
    """The positive label where the probability is at or above `threshold`, else the negative."""
    return np.where(is_positive(proba, threshold), schema.positive_label, schema.negative_label)


@dataclass(frozen=True)
class Categories:
    """The categories seen in training, per categorical feature, for counting unseen values."""

    known: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, schema: FeatureSchema) -> Categories:
        """Known categories of a schema (features without a list are not counted)."""
        return cls({col: frozenset(schema.categories[col]) for col in schema.categories})

    def unseen(self, columns: Mapping[str, Any] | pd.DataFrame) -> dict[str, int]:
        """Number of present values per feature that training never saw (zeros left out), in
        a frame or a mapping of column arrays."""
        out: dict[str, int] = {}
        for col, known in self.known.items():
            if col not in columns:
                continue
            count = _count_unseen(np.asarray(columns[col]), known)
            if count:
                out[col] = count
        return out


def _count_unseen(values: Iterable[Any], known: frozenset[str]) -> int:
    return sum(1 for v in values if isinstance(v, str) and v not in known)
