"""A table read from a file, and cleaning its text the one way every step does.

`prepare`, batch scoring, monitoring and simulation all clean raw values here, so a value means
the same to the model whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gitops_ml.core.formats import table_kind


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


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text values and turn blank strings into missing values (returns a new frame).

    Categorical columns stay categorical: only their labels are stripped, not every row.
    """
    # Copy-on-write: a shallow copy whose replaced columns never reach the caller's frame.
    out = frame.copy(deep=False)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            if not is_text(out[col].cat.categories.to_series()):
                continue  # numbers or dates as categories: nothing to strip
            labels = out[col].cat.categories.astype("str").str.strip()
            out[col] = recategorize(out[col], labels, pd.Index(labels[labels != ""].unique()))
        elif is_text(out[col]) and _holds_text(out[col]):
            stripped = out[col].str.strip()
            out[col] = stripped.mask(stripped == "")
    return out


def _holds_text(series: pd.Series) -> bool:
    """Whether a text-typed column holds strings (or nothing): dates or decimals read from
    Parquet arrive as objects too, and have no spaces to strip."""
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty", "mixed")


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
