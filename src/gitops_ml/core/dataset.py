"""The rules that turn a cleaned raw table into a typed, validated, split dataset.

The pure core of the `prepare` stage; `gitops-ml init` checks a new dataset with the same code,
so a dataset that init accepts is one that `dvc repro` prepares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from gitops_ml.core.columns import as_numbers, check_ids, check_usable, check_values, drop
from gitops_ml.core.errors import DataError
from gitops_ml.core.labels import as_text, find_label, label_text
from gitops_ml.core.params import DataParams
from gitops_ml.core.schema import ROW_KEY, FeatureSchema, with_statistics
from gitops_ml.core.stratified import split_sizes, stratified_split
from gitops_ml.core.table import Table, as_category, clean, is_text

# A text column is treated as numeric when at least this share of its values parse as numbers:
# a few stray strings in a numeric column are an error to report, not a reason to one-hot it.
NUMERIC_SHARE = 0.95


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    if not is_text(series):
        return False
    # Parse each distinct value once, weighted by its count: millions of rows hold few values.
    counts = series.value_counts(dropna=True)
    counts = counts[counts > 0]  # a categorical column also counts its unused labels
    if counts.empty:
        return False
    values = pd.Series(counts.index.astype(object))
    # Booleans among text (a CSV's True/False with blanks) are categories, not the numbers 1/0.
    values = values.mask(values.map(lambda v: isinstance(v, bool | np.bool_)))
    parsed = pd.to_numeric(values, errors="coerce").notna()
    share = counts.to_numpy()[parsed.to_numpy()].sum() / counts.sum()
    return bool(share >= NUMERIC_SHARE)


def infer_schema(frame: pd.DataFrame, params: DataParams, source: Path) -> FeatureSchema:
    """Decide the feature columns and their kinds from params, inferring what params omit.

    `source` is the file the frame came from, named in errors.
    """
    path = source
    named = [
        params.target,
        *([params.id_column] if params.id_column else []),
        *(params.numeric_features or []),
        *(params.categorical_features or []),
    ]
    missing = [col for col in named if col not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: column(s) {missing} named in params.yaml (data) are not in the file; "
            f"its columns are {list(frame.columns)}"
        )
    # Listing one kind of feature means every other column is of the other kind;
    # listing neither infers each column's kind from its values.
    excluded = {params.target, params.id_column}
    given_num, given_cat = params.numeric_features, params.categorical_features
    rest = [
        c for c in frame.columns if c not in excluded | set(given_num or []) | set(given_cat or [])
    ]
    if given_num is not None:
        numeric = given_num
    elif given_cat is not None:
        numeric = rest
    else:
        numeric = [c for c in rest if _looks_numeric(frame[c])]
    categorical = given_cat if given_cat is not None else [c for c in rest if c not in numeric]
    if not numeric and not categorical:
        raise DataError(f"{path}: no feature columns besides the target and id column")
    positive, negative = _labels(frame, params, source)
    return FeatureSchema(
        target=params.target,
        positive_label=positive,
        negative_label=negative,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        id_column=params.id_column,
    )


def _labels(frame: pd.DataFrame, params: DataParams, source: Path) -> tuple[str, str]:
    """(positive, negative) label as the file spells them; DataError when they do not fit."""
    text = as_text(frame[params.target]).dropna()
    labels = sorted(set(text.unique()))
    positive = find_label(params.positive_label, labels)
    if positive is None:
        raise DataError(
            f"{source}: column {params.target!r}: positive label "
            f"{label_text(params.positive_label)!r} does not occur; "
            f"the values present are {labels}"
        )
    others = [label for label in labels if label != positive]
    if not others:
        raise DataError(
            f"{source}: column {params.target!r} holds only {positive!r}; expected two classes"
        )
    negative = others[0] if len(others) == 1 else str(text.value_counts().drop(positive).index[0])
    return positive, negative


def validate(table: Table, schema: FeatureSchema, max_missing: float) -> pd.DataFrame:
    """Check the cleaned table against the schema with pandera; return it with typed columns.

    Numeric columns become float64, categorical columns `category`, the target 0/1 (int8).
    """
    frame = table.frame
    labels = [schema.positive_label, schema.negative_label]
    target_text = as_text(frame[schema.target])
    missing_check = pa.Check(
        lambda s: bool(s.isna().mean() <= max_missing),
        element_wise=False,
        ignore_na=False,
        error=f"more than {max_missing:.0%} of values missing (data.max_missing)",
    )
    # "inf" and numbers beyond a float's range (1e400) read as infinite: no model can use them.
    # (Read as numbers here, so that a value that is no number at all is only reported once.)
    finite_check = pa.Check(
        lambda s: ~np.isinf(pd.Series(pd.to_numeric(s, errors="coerce"), dtype="float64")),
        element_wise=False,
        ignore_na=True,
        error="finite numbers",
    )
    columns: dict[str, pa.Column] = {
        schema.target: pa.Column(
            "string", checks=pa.Check.isin(labels), nullable=False, coerce=True
        ),
        **{
            col: pa.Column(float, checks=[missing_check, finite_check], nullable=True, coerce=True)
            for col in schema.numeric
        },
        **{
            col: pa.Column(checks=missing_check, nullable=True, required=True)
            for col in schema.categorical
        },
    }
    candidate = frame.assign(**{schema.target: target_text})
    try:
        typed = pa.DataFrameSchema(columns, strict=False).validate(candidate, lazy=True)
    except SchemaErrors as exc:
        raise DataError(_describe_failures(table, exc.failure_cases, labels, schema)) from None
    out = pd.DataFrame(index=typed.index)
    if schema.id_column:
        out[schema.id_column] = typed[schema.id_column]
    for col in schema.numeric:
        out[col] = typed[col].astype("float64")
    for col in schema.categorical:
        out[col] = as_category(typed[col])
    out[schema.target] = (typed[schema.target] == schema.positive_label).astype("int8")
    return out


def _describe_failures(
    table: Table, cases: pd.DataFrame, labels: list[str], schema: FeatureSchema
) -> str:
    lines = [f"{table.path}: the data does not match the expected schema"]
    cases = cases.drop_duplicates(subset=["column", "index", "failure_case"])
    for column, group in cases.groupby("column", sort=True, dropna=False):
        check = str(group["check"].iloc[0])
        rows = [table.where(i) for i in group["index"].dropna().head(5)]
        values = ", ".join(repr(v) for v in group["failure_case"].head(5))
        at = f" at {', '.join(rows)}" if rows else ""
        more = f" (and {len(group) - 5} more)" if len(group) > 5 else ""
        if column == schema.target and "isin" in check:
            what = f"expected only {labels} (the positive label and one other), got {values}"
        elif "not_nullable" in check:
            what = "values must not be missing"
        elif "coerce_dtype" in check or "dtype" in check:
            what = f"expected numbers, got {values}"
        elif check == "finite numbers":
            what = f"expected finite numbers, got {values}"
        else:
            what = check
        lines.append(f"  column {column!r}{at}{more}: {what}")
    return "\n".join(lines)


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with nested values (lists, mappings, arrays: a Parquet column that
    data.drop_columns leaves out) as their text, so the row can be hashed; others as read."""
    nested = [
        col
        for col in frame.columns
        if frame[col].dtype == object
        and frame[col].map(lambda v: isinstance(v, list | dict | set | np.ndarray)).any()
    ]
    if not nested:
        return frame
    out = frame.copy()
    for col in nested:
        out[col] = frame[col].map(repr)
    return out


def row_keys(frame: pd.DataFrame, id_column: str | None) -> pd.Series:
    """A stable key per row of a raw table: its id, or else a hash of its values as read.

    A repeated id or row gets its occurrence number appended (`#1`, `#2`, ...), so every key is
    unique and the same data always gives the same keys, whatever the split.
    """
    if id_column is not None:
        base = frame[id_column].astype("string").fillna("")
    else:
        hashed = pd.util.hash_pandas_object(_hashable(frame), index=False).to_numpy()
        base = pd.Series([f"{h:016x}" for h in hashed.tolist()], index=frame.index, dtype="string")
    occurrence = base.groupby(base, sort=False).cumcount()
    suffix = ("#" + occurrence.astype("string")).where(occurrence > 0, "")
    return (base + suffix).rename(ROW_KEY)


def split_positions(y: pd.Series, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and test rows: stratified by `y`, seeded, always the same."""
    counts = y.value_counts()
    if counts.min() < 2:
        raise DataError(
            f"column {y.name!r}: each class needs at least two rows to split, "
            f"got {counts.to_dict()}"
        )
    rows, classes = len(y), len(counts)
    kept, held_out = split_sizes(rows, test_size)
    if held_out < classes or kept < classes:
        raise DataError(
            f"data.test_size {test_size}: of {rows} rows it holds out {held_out} for testing "
            f"and keeps {kept} for training, and each needs at least {classes} (one "
            f"per class); choose a test_size between {classes / rows:.4g} and "
            f"{1 - classes / rows:.4g}"
        )
    return stratified_split(y, test_size, seed)


def split(
    frame: pd.DataFrame, target: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified, seeded train/test split; the same inputs always give the same rows."""
    train, test = split_positions(frame[target], test_size, seed)
    return frame.iloc[train].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)


def prepare(
    table: Table, params: DataParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSchema]:
    """Pure core of the stage: cleaned, validated, split data and the schema it follows.

    Each split keeps the key of its rows (`ROW_KEY`), computed from the values as read (all
    columns, so dropping one does not change the keys).
    """
    if ROW_KEY in table.frame.columns:
        raise DataError(f"{table.path}: column {ROW_KEY!r} is reserved; rename it")
    cleaned, schema = usable(table, params)
    typed = validate(cleaned, schema, params.max_missing)
    typed.insert(0, ROW_KEY, row_keys(table.frame, params.id_column))
    train, test = split(typed, schema.target, params.test_size, seed)
    return train, test, with_statistics(schema, train)


def usable(table: Table, params: DataParams) -> tuple[Table, FeatureSchema]:
    """The raw table as the model may use it (dropped columns gone, values checked and cleaned),
    and its inferred schema; DataError naming what cannot be used."""
    kept = drop(table, params.drop_columns)
    check_values(kept)
    frame = clean(kept.frame.apply(as_numbers))
    cleaned = Table(frame=frame, path=table.path, lines=table.lines)
    schema = infer_schema(cleaned.frame, params, table.path)
    check_usable(cleaned, list(schema.numeric), list(schema.categorical))
    check_ids(cleaned, schema.id_column)
    return cleaned, schema


def held_out(table: Table, params: DataParams, seed: int) -> pd.DataFrame:
    """The raw rows that `prepare` holds out as the test split, cleaned, in the file's order.

    Rows the model never saw in training, in the file's own columns and values: what a
    simulated batch of "current" data resamples by default.
    """
    cleaned, schema = usable(table, params)
    typed = validate(cleaned, schema, params.max_missing)
    _, test = split_positions(typed[schema.target], params.test_size, seed)
    return cleaned.frame.iloc[np.sort(test)].reset_index(drop=True)
