"""What init learns from a dataset: guesses of the target, positive label and id column, and
the data validated exactly as the prepare stage will validate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gitops_ml.core.columns import as_numbers, is_date, is_free_text
from gitops_ml.core.dataset import prepare
from gitops_ml.core.errors import DataError
from gitops_ml.core.labels import as_text, find_label
from gitops_ml.core.params import DataParams
from gitops_ml.core.predictions import slice_candidates
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import Table, clean, is_text

# Names that usually mark the target column or its positive value, lower-cased.
TARGET_NAMES = ("target", "label", "class", "y", "outcome", "status", "churn", "churned", "default")
POSITIVE_NAMES = ("yes", "true", "1", "y", "positive", "pos")


def binary_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding exactly two distinct values: the candidates for the target."""
    return [str(c) for c in frame.columns if frame[c].nunique(dropna=True) == 2]


def guess_target(frame: pd.DataFrame) -> str | None:
    """A two-valued column named like a target, else the last two-valued column."""
    candidates = binary_columns(frame)
    for col in candidates:
        if col.lower() in TARGET_NAMES:
            return col
    return candidates[-1] if candidates else None


def target_values(frame: pd.DataFrame, target: str) -> dict[str, int]:
    """Counts of each value of the target column, as text (how params.yaml names labels)."""
    counts = as_text(frame[target]).dropna().str.strip().value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def guess_positive(counts: dict[str, int]) -> str:
    """A value named like a positive label (yes, true, 1), else the rarer class."""
    for value in counts:
        if value.lower() in POSITIVE_NAMES:
            return value
    return min(counts, key=lambda v: (counts[v], v))


def guess_id_column(frame: pd.DataFrame, target: str | None) -> str | None:
    """A column whose values are all present and distinct, and that is named like an
    identifier or holds text (a text column with no repeated value cannot be a useful feature).
    """
    for col in frame.columns:
        name = str(col)
        series = frame[col]
        if name == target or pd.api.types.is_float_dtype(series) or series.isna().any():
            continue
        lowered = name.lower()
        named = lowered == "id" or lowered.endswith(("_id", "id", "_key", "_ref"))
        text = not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if (named or text) and series.is_unique:
            return name
    return None


def unusable_columns(frame: pd.DataFrame, target: str, id_column: str | None) -> dict[str, str]:
    """Columns prepare refuses as features, each with why: dates and times, free text.

    The rule is prepare's own (`core.columns`), applied to the values as prepare cleans them, so
    what `init` proposes to leave out (`data.drop_columns`) is exactly what prepare needs.
    """
    cleaned = clean(frame.apply(as_numbers))
    found: dict[str, str] = {}
    for col in cleaned.columns:
        name = str(col)
        series = cleaned[col]
        if name in (target, id_column):
            continue
        if is_date(series):
            found[name] = "dates and times"
        elif is_text(series) and not pd.api.types.is_bool_dtype(series) and is_free_text(series):
            found[name] = "free text"
    return found


def model_name_for(project: str) -> str:
    """A registered-model name made from a project name: `<project>-model`, safe for GTO."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", project.strip()).strip("-_").lower()
    return f"{slug or 'project'}-model"


@dataclass(frozen=True)
class DataSummary:
    """What init learned from the dataset: the schema prepare will infer and the class balance."""

    path: Path
    rows: int
    schema: FeatureSchema
    counts: dict[str, int]
    dropped: list[str] = field(default_factory=list)  # data.drop_columns, left out
    slice_candidates: list[str] = field(default_factory=list)  # worth judging apart

    @property
    def positive_rate(self) -> float:
        """Share of rows with the positive label."""
        return self.counts[self.schema.positive_label] / sum(self.counts.values())


def check_target(table: Table, target: str) -> dict[str, int]:
    """The target's value counts; DataError naming file, column and values when unusable."""
    frame = table.frame
    if target not in frame.columns:
        binary = binary_columns(frame)
        hint = f"; two-valued columns: {binary}" if binary else ""
        raise DataError(
            f"{table.path}: no column {target!r} for the target; "
            f"its columns are {[str(c) for c in frame.columns]}{hint}"
        )
    counts = target_values(frame, target)
    if len(counts) != 2:
        raise DataError(
            f"{table.path}: column {target!r} holds {len(counts)} distinct values "
            f"{list(counts)[:10]}; the target must have exactly two"
        )
    return counts


def check_positive(table: Table, target: str, counts: dict[str, int], positive: str) -> str:
    """The label `positive` names, as the file spells it (`true` names a Parquet's `True`);
    DataError naming file, column and the values present when it names none.
    """
    found = find_label(positive, list(counts))
    if found is None:
        raise DataError(
            f"{table.path}: column {target!r}: positive label {positive!r} does not occur; "
            f"the values present are {list(counts)}"
        )
    return found


def summarize(table: Table, params: DataParams, seed: int) -> DataSummary:
    """Validate the data exactly as the prepare stage will, and say what it inferred."""
    counts = check_target(table, params.target)
    check_positive(table, params.target, counts, str(params.positive_label))
    # The stage's own code: a dataset that passes here passes `dvc repro`'s prepare.
    _, test, schema = prepare(table, params, seed)
    y = test[schema.target].to_numpy(dtype="int8")
    positive = schema.positive_label
    ordered = {positive: counts[positive], **{k: v for k, v in counts.items() if k != positive}}
    return DataSummary(
        path=table.path,
        rows=len(table.frame),
        schema=schema,
        counts=ordered,
        dropped=list(params.drop_columns),
        slice_candidates=slice_candidates(test, y, list(schema.categorical)),
    )
