"""A table read from a file, and cleaning its values the one way every step does.

`prepare`, batch scoring, serving, monitoring and simulation all clean raw values here, so a
value means the same to the model whichever way it arrives: a missing value is missing however
it is written (NaN, None, pandas' NA, a blank string), and a category is one text however the
file or the request spells its type (`True` and `true`, `3` and `3.0`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gitops_ml.core.formats import table_kind

# pandas reads `True`/`TRUE`/`true` in a CSV as booleans, and a JSON client sends `true`: all
# are the one category "True".
_BOOLEAN_WORDS = {"true": "True", "false": "False"}
# A plain decimal number written as text: "3", "3.0", "-1.5e3" (not "1_000", "inf" or "nan").
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# Integers beyond 2**53 lose digits as floats: keep their float text rather than invent digits.
_EXACT_INTEGERS = 2.0**53


@dataclass(frozen=True)
class Table:
    """A raw table and where it came from, so errors can name the file and row."""

    frame: pd.DataFrame
    path: Path
    # The file line on which row i starts (CSV), from whoever read the file: a quoted value
    # may span lines. Without it, row i is taken to be on line i + 2.
    lines: Callable[[int], int] | None = None

    def where(self, index: object) -> str:
        """Human position of a row: the CSV line (header is line 1) or the 1-based row."""
        pos = int(index)  # type: ignore[call-overload]
        if table_kind(self.path) == "csv":
            return f"line {self.lines(pos) if self.lines is not None else pos + 2}"
        return f"row {pos + 1}"


def is_text(series: pd.Series) -> bool:
    """Whether a column holds text (string or object dtype)."""
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def is_missing(value: object) -> bool:
    """Whether one value is missing: None, NaN, pandas' NA or NaT (blank text is not, yet)."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float | np.floating) and math.isnan(value))
    )


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text values and turn blank strings into missing values (returns a new frame).

    Categorical columns stay categorical: only their labels are stripped, not every row.
    Columns mixing text with other values (booleans with blanks, as a CSV gives them) keep
    their other values as they are, any missing one (None, pandas' NA) as NaN.
    """
    # Copy-on-write: a shallow copy whose replaced columns never reach the caller's frame.
    out = frame.copy(deep=False)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            if not is_text(out[col].cat.categories.to_series()):
                continue  # numbers or dates as categories: nothing to strip
            labels = out[col].cat.categories.astype("str").str.strip()
            out[col] = recategorize(out[col], labels, pd.Index(labels[labels != ""].unique()))
        elif pd.api.types.is_string_dtype(out[col]):
            stripped = out[col].str.strip()
            out[col] = stripped.mask(stripped.eq("").fillna(False).astype(bool))
        elif pd.api.types.is_object_dtype(out[col]):
            out[col] = out[col].map(_strip_text)
    return out


def _strip_text(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        return text if text else np.nan
    # One missing value for every way of writing one: numbers then coerce (pandas' NA does not).
    return np.nan if is_missing(value) else value


def category_label(value: object) -> str | None:
    """The text a categorical value stands for, or None when it is missing.

    Text is stripped (blank is missing); booleans, however spelled, are `True`/`False`; whole
    numbers are written without a decimal point (`3`, from 3, 3.0 or "3.0"), so a category
    reads the same from a CSV, a Parquet file or a JSON request.
    """
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _number_text(float(value))
    text = str(value).strip()
    if not text:
        return None
    if text.lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[text.lower()]
    if _NUMBER.match(text):
        return _number_text(float(text))
    return text


def _number_text(number: float) -> str:
    if number.is_integer() and abs(number) < _EXACT_INTEGERS:
        return str(int(number))
    return repr(number)


def as_category(series: pd.Series) -> pd.Series:
    """The column as `category` of its values' labels (`category_label`), sorted; a new Series.

    Missing values are NaN to anything that reads the column as an array (the categories are
    text with NaN for missing), which is what scikit-learn's imputers take for missing.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        coded = series
    elif pd.api.types.is_object_dtype(series):
        # Mixed values (booleans and blanks, numbers and text): one label per row first.
        coded = series.map(category_label).astype("category")
    else:
        coded = series.astype("category")
    labels = pd.Index([category_label(v) for v in coded.cat.categories], dtype=object)
    codes = coded.cat.codes.to_numpy()
    # Counting is linear in the rows, where np.unique would sort them.
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(labels)))
    present = {labels[i] for i in used.tolist()} - {None}
    return recategorize(coded, labels, pd.Index(sorted(present), dtype="str"))


def recategorize(series: pd.Series, labels: pd.Index, categories: pd.Index) -> pd.Series:
    """A categorical series relabelled: code i becomes `labels[i]`, kept if in `categories`.

    Works on the codes, so it costs one integer array however long the labels are; rows
    whose new label is not among `categories` become missing.
    """
    lookup = np.append(categories.get_indexer(labels), -1)  # index -1 = missing stays missing
    codes = lookup[series.cat.codes.to_numpy()]
    dtype = pd.CategoricalDtype(categories)
    return pd.Series(
        pd.Categorical.from_codes(codes, dtype=dtype), index=series.index, name=series.name
    )
