"""The held-out predictions of a model, and the slices of rows they are judged on.

The evaluate stage writes a model's test-split predictions (eval/predictions.csv: each row's key,
its label and the model's score, plus the value of every slice column); the pull-request
report pairs two revisions' predictions by key, and scores both models on the rows both held
out, overall and per slice. Both read the file's format from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO

import numpy as np
import pandas as pd

from gitops_ml.core.errors import DataError

KEY, LABEL, SCORE = "row_key", "label", "score"
SLICE_PREFIX = "slice:"
# Above this many test rows, the file keeps a deterministic sample: the rows whose keys hash
# lowest, so two revisions holding the same rows keep the same ones.
MAX_ROWS = 20_000
# A slice is judged only with enough rows of each class for its metrics to mean something.
SLICE_MIN_ROWS = 100
SLICE_MIN_PER_CLASS = 10
MISSING = "(missing)"


def slice_column(name: str) -> str:
    """The file's column holding the values of the slice column `name`."""
    return f"{SLICE_PREFIX}{name}"


def table(
    keys: pd.Series, y: np.ndarray, proba: np.ndarray, slices: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Predictions in the file's columns, sorted by key."""
    frame = pd.DataFrame(
        {KEY: keys.astype("string").to_numpy(), LABEL: y.astype("int8"), SCORE: proba}
    )
    if slices is not None:
        for name in slices.columns:
            frame[slice_column(str(name))] = slice_values(slices[name]).to_numpy()
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def sample(frame: pd.DataFrame) -> pd.DataFrame:
    """At most MAX_ROWS rows: those whose keys hash lowest (all of them when fewer)."""
    if len(frame) <= MAX_ROWS:
        return frame
    rank = pd.util.hash_pandas_object(frame[KEY], index=False).to_numpy()
    return frame.iloc[np.sort(np.argsort(rank, kind="stable")[:MAX_ROWS])].reset_index(drop=True)


def slice_values(series: pd.Series) -> pd.Series:
    """A slice column's values as text, missing ones named."""
    return series.astype("string").fillna(MISSING)


def to_csv(frame: pd.DataFrame) -> str:
    """The file's text: CSV, scores with every digit (they are read back exactly)."""
    return frame.to_csv(index=False, lineterminator="\n")


def from_csv(text: str, where: str) -> pd.DataFrame:
    """Parse a predictions file; DataError naming `where` when it is not one."""
    try:
        frame = pd.read_csv(
            StringIO(text), dtype={KEY: "string"}, keep_default_na=False, na_values=[]
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{where}: not a predictions file: {exc}") from None
    missing = [c for c in (KEY, LABEL, SCORE) if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: columns {missing} are missing; expected {[KEY, LABEL, SCORE]}")
    for col in frame.columns:
        if col.startswith(SLICE_PREFIX):
            frame[col] = frame[col].astype("string")
    return frame


@dataclass(frozen=True)
class Slice:
    """The rows of one value of one slice column."""

    column: str
    value: str
    rows: np.ndarray  # boolean mask

    @property
    def name(self) -> str:
        """How reports name it: `column=value`."""
        return f"{self.column}={self.value}"


def slices(frame: pd.DataFrame, y: np.ndarray) -> list[Slice]:
    """Every slice of a predictions frame with enough rows of each class, by column and value."""
    found = []
    for col in sorted(c for c in frame.columns if c.startswith(SLICE_PREFIX)):
        values = frame[col].to_numpy()
        for value in sorted(set(values.tolist())):
            rows = values == value
            positives = int(y[rows].sum())
            negatives = int(rows.sum()) - positives
            if rows.sum() >= SLICE_MIN_ROWS and min(positives, negatives) >= SLICE_MIN_PER_CLASS:
                found.append(Slice(col.removeprefix(SLICE_PREFIX), str(value), rows))
    return found


# init proposes at most this many slice columns, of at most this many values each: every judged
# slice is one more comparison that can fail by chance.
PROPOSED_SLICES = 3
PROPOSED_MAX_VALUES = 12


def slice_candidates(split: pd.DataFrame, y: np.ndarray, columns: list[str]) -> list[str]:
    """The categorical `columns` worth judging apart on this held-out `split`: at most
    PROPOSED_SLICES of them, each with at least two slices that have enough rows of each class:
    those whose judged slices cover the most rows, then whose slices' positive rates differ most
    (segments the model must tell apart)."""
    ranked = []
    for column in columns:
        values = slice_values(split[column])
        if values.nunique() > PROPOSED_MAX_VALUES:
            continue
        judged = slices(pd.DataFrame({slice_column(column): values.to_numpy()}), y)
        if len(judged) >= 2:
            covered = int(sum(found.rows.sum() for found in judged))
            rates = [float(y[found.rows].mean()) for found in judged]
            ranked.append((-covered, -(max(rates) - min(rates)), column))
    return [column for *_, column in sorted(ranked)[:PROPOSED_SLICES]]
