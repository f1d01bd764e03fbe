"""Which columns of a raw table a model can use, decided before any is typed or split.

`prepare` first drops `data.drop_columns`, then refuses what a model cannot learn from and would
silently turn into noise: dates and times (a date column becomes a category with one level per
day), free-text-like columns (nearly every value distinct: comments, names, identifiers), and an
id column whose values repeat. Each refusal names the columns and says what to set instead.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

from gitops_ml.core.errors import DataError
from gitops_ml.core.table import Table, is_text

# A text column is a date or time when this share of its distinct values look like one.
DATE_SHARE = 0.95
_DATE = re.compile(
    r"^\s*("
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2024-01-31, 2024/1/31
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"  # 31.01.2024, 1/31/24
    r")([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?\s*$"
    r"|^\s*\d{1,2}:\d{2}(:\d{2})?\s*$"  # a time of day
)
# A text column is free text when at least this share of its present values are distinct and
# it has at least this many of them (a small table may well have a few all-distinct labels).
FREE_TEXT_SHARE = 0.9
FREE_TEXT_MIN_LEVELS = 50
# Rows shown in a message.
SHOWN = 5
# Values looked at to tell what a text (object) column holds.
SAMPLE = 1000
_CONTAINERS = (list, tuple, dict, set, bytes, bytearray, np.ndarray)


def drop(table: Table, columns: list[str]) -> Table:
    """The table without `columns` (data.drop_columns); DataError naming any that is absent."""
    absent = [c for c in columns if c not in table.frame.columns]
    if absent:
        raise DataError(
            f"{table.path}: data.drop_columns names {absent}, which the file does not have; "
            f"its columns are {list(table.frame.columns)}"
        )
    return Table(frame=table.frame.drop(columns=columns), path=table.path, lines=table.lines)


def check_values(table: Table) -> None:
    """Refuse columns holding lists, structs, maps or bytes (from Parquet): no model takes them.

    Checked on a sample of each column's values, before anything reads them as labels.
    """
    found = []
    for name in table.frame.columns:
        series = table.frame[name]
        if not pd.api.types.is_object_dtype(series):
            continue
        sample = series.dropna().head(SAMPLE)
        kinds = sorted({type(v).__name__ for v in sample if isinstance(v, _CONTAINERS)})
        if kinds:
            found.append(f"{name!r} ({', '.join(kinds)})")
    if found:
        raise DataError(
            f"{table.path}: column(s) {', '.join(found)} hold lists, structs or bytes, which "
            "no model can use; list them in data.drop_columns in params.yaml, or flatten them "
            "into columns of numbers or text before prepare"
        )


def as_numbers(series: pd.Series) -> pd.Series:
    """An object column of Decimal values (a Parquet decimal) as float64; others unchanged."""
    if pd.api.types.is_object_dtype(series):
        sample = series.dropna().head(SAMPLE)
        if len(sample) and all(isinstance(v, Decimal) for v in sample):
            return pd.Series(pd.to_numeric(series, errors="coerce"), index=series.index)
    return series


def _distinct_text(series: pd.Series) -> list[str]:
    values = series.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(v) for v in values.cat.remove_unused_categories().cat.categories]
    return [str(v) for v in values.unique()]


def is_date(series: pd.Series) -> bool:
    """Whether a column holds dates or times: a datetime type, or text that reads as dates."""
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        return True
    categories = series.dtype.categories if isinstance(series.dtype, pd.CategoricalDtype) else None
    if categories is not None and pd.api.types.is_datetime64_any_dtype(categories):
        return True
    if not is_text(series) and categories is None:
        return False
    distinct = _distinct_text(series)
    if not distinct:
        return False
    matched = sum(1 for value in distinct if _DATE.match(value))
    return matched / len(distinct) >= DATE_SHARE


def is_free_text(series: pd.Series) -> bool:
    """Whether a text column has nearly as many distinct values as present ones."""
    present = int(series.notna().sum())
    if present == 0:
        return False
    levels = len(_distinct_text(series))
    return levels >= FREE_TEXT_MIN_LEVELS and levels / present >= FREE_TEXT_SHARE


def check_usable(table: Table, numeric: list[str], categorical: list[str]) -> None:
    """Refuse date and free-text columns among the features, naming them and what to do."""
    frame = table.frame
    dates = [c for c in [*numeric, *categorical] if is_date(frame[c])]
    if dates:
        raise DataError(
            f"{table.path}: column(s) {dates} hold dates or times, which the model cannot use "
            "as features (each day would be a category of its own); list them in "
            "data.drop_columns in params.yaml, or derive a number from them (days since, "
            "month) before prepare"
        )
    texts = [c for c in categorical if is_free_text(frame[c])]
    if texts:
        raise DataError(
            f"{table.path}: column(s) {texts} look like free text or identifiers (nearly every "
            "value differs), which the model cannot learn from; list them in "
            "data.drop_columns in params.yaml, or set data.id_column if one identifies the "
            "rows"
        )


def check_ids(table: Table, id_column: str | None) -> None:
    """Refuse an id column whose values repeat, naming the first repeats and their rows."""
    if id_column is None:
        return
    ids = table.frame[id_column]
    repeated = ids[ids.duplicated(keep=False) & ids.notna()]
    if repeated.empty:
        return
    first = list(dict.fromkeys(repeated.astype(str)))[:SHOWN]
    rows = [table.where(i) for i in repeated.index[:SHOWN]]
    raise DataError(
        f"{table.path}: column {id_column!r} (data.id_column) must identify each row, but "
        f"{repeated.nunique()} value(s) repeat, e.g. {first} at {', '.join(rows)}; "
        "remove the duplicate rows, or set data.id_column to a column that is unique"
    )
