"""Batches of "current" data shaped like the raw data: resampled rows plus controlled drift.

By default the rows come from those `prepare` holds out for testing, so a batch without drift
scores like held-out data, not like the training rows the model has seen.

The drift SPEC is a comma-separated list of `column:operation=value` items, applied in order:

    shift=<number>          numeric column: add the number to every value
    scale=<number>          numeric column: multiply every value by the number
    missing=<share>         any column: blank out this share (0-1) of the values
    new=<label>[@<share>]   text column: replace a share (default 0.2) of values by a new label
    freq=<label>@<share>    any column: resample rows so that <label> makes up <share> of them

for example `tenure:shift=12,contract:new=Quarterly,total_charges:missing=0.3`. Labels may hold
spaces but not commas. Several `freq` items combine their resampling weights, so their shares
are then approximate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gitops_ml.core.dataset import held_out
from gitops_ml.core.errors import DriftSpecError, UserError
from gitops_ml.core.formats import require_table
from gitops_ml.core.params import Params
from gitops_ml.core.table import clean
from gitops_ml.infra.files import write_atomic
from gitops_ml.infra.tables import read_table

Operation = Literal["shift", "scale", "missing", "new", "freq"]
OPERATIONS: tuple[Operation, ...] = ("shift", "scale", "missing", "new", "freq")
NEW_SHARE = 0.2
# Rows generated and written at a time: bounds memory for batches of millions of rows.
CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class DriftChange:
    """One item of a drift specification."""

    column: str
    operation: Operation
    number: float = 0.0
    label: str = ""

    def __str__(self) -> str:
        if self.operation in ("shift", "scale", "missing"):
            return f"{self.column}:{self.operation}={self.number:g}"
        return f"{self.column}:{self.operation}={self.label}@{self.number:g}"


def _number(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DriftSpecError(f"--drift {item!r}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DriftSpecError(f"--drift {item!r}: expected a finite number, got {text!r}")
    return value


def _share(text: str, item: str, *, low: float, high: float) -> float:
    value = _number(text, item)
    if not low <= value <= high:
        raise DriftSpecError(
            f"--drift {item!r}: expected a share from {low:g} to {high:g}, got {text!r}"
        )
    return value


def parse_spec(spec: str) -> list[DriftChange]:
    """Parse a drift SPEC (see the module docstring); raise DriftSpecError naming the bad item."""
    changes: list[DriftChange] = []
    for raw_item in spec.split(","):
        item = raw_item.strip()
        if not item:
            if spec.strip():
                raise DriftSpecError(f"--drift {spec!r}: empty item; remove the stray comma")
            continue
        column, colon, rest = item.partition(":")
        operation, equals, value = rest.partition("=")
        column, operation, value = column.strip(), operation.strip(), value.strip()
        if not colon or not equals or not column or not value:
            raise DriftSpecError(
                f"--drift {item!r}: expected column:operation=value, "
                "e.g. tenure:shift=12 or contract:new=Quarterly"
            )
        if operation not in OPERATIONS:
            raise DriftSpecError(
                f"--drift {item!r}: unknown operation {operation!r}; "
                f"expected one of {', '.join(OPERATIONS)}"
            )
        changes.append(_change(column, operation, value, item))
    return changes


def _change(column: str, operation: str, value: str, item: str) -> DriftChange:
    if operation in ("shift", "scale"):
        return DriftChange(column, operation, number=_number(value, item))  # type: ignore[arg-type]
    if operation == "missing":
        return DriftChange(column, "missing", number=_share(value, item, low=0, high=1))
    label, at, share = value.rpartition("@")
    if not at:
        label, share = value, ""
    label = label.strip()
    if not label:
        raise DriftSpecError(f"--drift {item!r}: expected a label before '@'")
    if operation == "new":
        number = _share(share, item, low=0.001, high=1) if share else NEW_SHARE
        return DriftChange(column, "new", number=number, label=label)
    if not share:
        raise DriftSpecError(f"--drift {item!r}: expected <label>@<share>, e.g. Two year@0.6")
    return DriftChange(
        column, "freq", number=_share(share, item, low=0.001, high=0.999), label=label
    )


def check_spec(changes: list[DriftChange], source: pd.DataFrame, where: str) -> None:
    """Check every change names a column of `source` that its operation applies to."""
    for change in changes:
        if change.column not in source.columns:
            raise DriftSpecError(
                f"--drift {str(change)!r}: column {change.column!r} is not in {where}; "
                f"its columns are {list(source.columns)}"
            )
        series = source[change.column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if change.operation in ("shift", "scale") and not numeric:
            raise DriftSpecError(
                f"--drift {str(change)!r}: {change.operation} applies to numeric columns; "
                f"{change.column!r} in {where} holds text"
            )
        if change.operation == "new":
            if numeric:
                raise DriftSpecError(
                    f"--drift {str(change)!r}: new applies to text columns; "
                    f"{change.column!r} in {where} is numeric"
                )
            if (series.astype("string") == change.label).any():
                raise DriftSpecError(
                    f"--drift {str(change)!r}: label {change.label!r} already occurs in "
                    f"{change.column!r}; expected a label the data does not hold"
                )
        if change.operation == "freq":
            labels = series.dropna().astype("string")
            hit = labels == change.label
            if not hit.any():
                shown = sorted(labels.unique().tolist())[:20]
                raise DriftSpecError(
                    f"--drift {str(change)!r}: label {change.label!r} does not occur in "
                    f"{change.column!r}; its values are {shown}"
                )
            if hit.all() and len(labels) == len(series):
                raise DriftSpecError(
                    f"--drift {str(change)!r}: {change.column!r} holds only {change.label!r}; "
                    "its frequency cannot change"
                )


def row_weights(source: pd.DataFrame, changes: list[DriftChange]) -> np.ndarray | None:
    """Resampling probability of each source row under the `freq` changes (None: uniform)."""
    freq = [c for c in changes if c.operation == "freq"]
    if not freq:
        return None
    weights = np.ones(len(source))
    for change in freq:
        hit = (source[change.column].astype("string") == change.label).fillna(False).to_numpy()
        share_now = hit.mean()
        # Reweight the label's rows to the wanted share, keeping the others' relative mix.
        weights *= np.where(hit, change.number / share_now, (1 - change.number) / (1 - share_now))
    return np.asarray(weights / weights.sum())


def compact(source: pd.DataFrame) -> pd.DataFrame:
    """A copy with text columns as `category`, so taking millions of rows copies codes only."""
    out = source.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype("category")
    return out


def draw(
    source: pd.DataFrame,
    rows: int,
    changes: list[DriftChange],
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    index: np.ndarray | None = None,
) -> pd.DataFrame:
    """`rows` rows of `source` with the value changes applied (a new frame): those at `index`,
    else drawn with replacement (by `weights` when given)."""
    if index is None and weights is None:
        index = rng.integers(0, len(source), rows)
    elif index is None:
        index = rng.choice(len(source), size=rows, p=weights)
    batch = source.take(index).reset_index(drop=True)
    for change in changes:
        batch[change.column] = _apply(batch[change.column], change, rng)
    return batch


def _apply(series: pd.Series, change: DriftChange, rng: np.random.Generator) -> pd.Series:
    # Whole numbers keep an integer column integer, as a raw file would hold it.
    number: float = int(change.number) if change.number.is_integer() else change.number
    if change.operation == "shift":
        return series + number
    if change.operation == "scale":
        return series * number
    hit = rng.random(len(series)) < change.number
    if change.operation == "missing":
        # Numeric columns become float whatever the draw, so every chunk has the same type.
        out = series.astype("float64") if pd.api.types.is_numeric_dtype(series) else series
        return out.mask(hit)
    if change.operation == "new":
        out = series.astype("category")
        out = out.cat.add_categories([change.label])
        return out.mask(hit, change.label)
    return series  # freq acts through the resampling weights


def simulate(
    source: pd.DataFrame,
    rows: int,
    seed: int,
    changes: list[DriftChange],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Yield the batch in chunks of at most `chunk_rows` rows; the same inputs, the same rows.

    A batch no larger than `source` repeats no row, as a real batch would not (repeats make a
    column of many rare values look drifted); a larger one, or one reweighted by `freq`, is
    drawn with replacement.
    """
    rng = np.random.default_rng(seed)
    compacted = compact(source)
    weights = row_weights(compacted, changes)
    fits = weights is None and rows <= len(source)
    order = rng.permutation(len(source))[:rows] if fits else None
    for start in range(0, rows, chunk_rows):
        size = min(chunk_rows, rows - start)
        index = None if order is None else order[start : start + size]
        yield draw(compacted, size, changes, rng, weights, index)


def _write_parquet(chunks: Iterator[pd.DataFrame], path: Path) -> None:
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if schema is None:
                # Plain strings, as in a raw file; later chunks are cast to the first's types.
                schema = pa.schema(
                    [
                        pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
                        for f in table.schema
                    ]
                ).remove_metadata()
                writer = pq.ParquetWriter(path, schema)
            assert writer is not None
            writer.write_table(table.cast(schema))
    finally:
        if writer is not None:
            writer.close()


def _write_csv(chunks: Iterator[pd.DataFrame], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        for i, chunk in enumerate(chunks):
            chunk.to_csv(fh, header=i == 0, index=False)


def source_rows(params: Params, raw: Path | None = None) -> tuple[pd.DataFrame, str]:
    """The rows a batch resamples, cleaned, and their name in messages: the table `raw` when
    given, else the rows of data.raw that `prepare` holds out for testing.

    The target is read as the file writes it, so the batch's labels are the data's own.
    """
    target = params.data.target
    if raw is not None:
        return clean(read_table(raw, text=[target]).frame), str(raw)
    table = read_table(Path(params.data.raw), text=[target])
    held = held_out(table, params.data, params.seed)
    return held, f"the {len(held)} held-out rows of {params.data.raw}"


def run(
    source: pd.DataFrame,
    where: str,
    output: Path,
    rows: int,
    seed: int,
    spec: str = "",
    chunk_rows: int = CHUNK_ROWS,
) -> list[DriftChange]:
    """Write `rows` rows resampled from `source` (named `where`) to `output` (.csv or .parquet)."""
    if rows < 1:
        raise UserError(f"--rows: expected a positive number of rows, got {rows}")
    kind = require_table(output, "--output")
    changes = parse_spec(spec)
    check_spec(changes, source, where)
    chunks = simulate(source, rows, seed, changes, chunk_rows)
    writer = _write_csv if kind == "csv" else _write_parquet
    write_atomic(output, lambda tmp: writer(chunks, tmp))
    return changes
