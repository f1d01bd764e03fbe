"""Reading CSV and Parquet tables: whole (prepare, monitoring, simulation) or in chunks (batch
scoring), with one error naming the file for everything that can be wrong with it.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gitops_ml.core.errors import DataError
from gitops_ml.core.formats import EXPECTED, TableKind, table_kind
from gitops_ml.core.table import Table

_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# What reading a file that is not the table it claims to be raises: the file's fault, not ours.
READ_ERRORS = (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pa.ArrowException)
log = logging.getLogger("gitops_ml.tables")


class CsvLines:
    """The line of a CSV file on which each data row starts, found on first use.

    A quoted value may hold line breaks, so row i is not always on line i + 2; the file is read
    once more, only when an error needs a line number. Blank lines count as pandas skips them.
    """

    def __init__(self, path: Path) -> None:
        """Line numbers of the rows of `path`."""
        self.path = path
        self._starts: list[int] | None = None

    def __call__(self, row: int) -> int:
        """The 1-based line on which 0-based data row `row` starts."""
        if self._starts is None:
            self._starts = self._scan()
        return self._starts[row] if 0 <= row < len(self._starts) else row + 2

    def _scan(self) -> list[int]:
        starts: list[int] = []
        with self.path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            next(reader, None)  # the header
            consumed = reader.line_num
            for record in reader:
                if record and any(field.strip() for field in record):
                    starts.append(consumed + 1)
                consumed = reader.line_num
        return starts


def _kind(path: Path) -> TableKind:
    kind = table_kind(path)
    if kind is None:
        raise DataError(f"{path}: expected {EXPECTED}")
    return kind


def read_table(path: Path, *, text_as_category: bool = False, text: Sequence[str] = ()) -> Table:
    """Read a CSV or Parquet file; raise DataError saying what is wrong with it.

    `text_as_category` reads Parquet text columns as `category` (codes plus one copy of each
    label): ten million rows of a low-cardinality text column then take 10 MB instead of ~100 MB.
    `text` names CSV columns read as the text the file holds (the target, whose labels are
    compared as written: `true` stays `true` instead of becoming the boolean True); a Parquet
    file's columns keep their stored types.
    """
    kind = _kind(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    try:
        if kind == "csv":
            _check_csv_header(path)
            dtypes = dict.fromkeys(text, "str") or None
            frame = pd.read_csv(path, skipinitialspace=True, dtype=dtypes)
        elif text_as_category:
            frame = pd.read_parquet(path, read_dictionary=_text_columns(path))
        else:
            frame = pd.read_parquet(path)
    except DataError:
        raise
    except READ_ERRORS as exc:
        name = "CSV" if kind == "csv" else "Parquet"
        raise DataError(f"{path}: cannot be read as {name}: {exc}") from None
    frame = _tidy_header(frame, path)
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return Table(frame=frame, path=path, lines=CsvLines(path) if kind == "csv" else None)


def _tidy_header(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Column names stripped of surrounding spaces (with a warning); no empty or repeated one."""
    names = [str(name) for name in frame.columns]
    empty = [i + 1 for i, name in enumerate(names) if not name.strip()]
    if empty:
        raise DataError(
            f"{path}: column(s) {empty} of the header (counting from 1) have no name; name "
            "them, or remove them from the file"
        )
    stripped = [name.strip() for name in names]
    changed = [name for name, new in zip(names, stripped, strict=True) if name != new]
    if changed:
        log.warning(
            "%s: spaces around column name(s) %s removed; params.yaml names them without",
            path,
            changed,
        )
        frame = frame.set_axis(stripped, axis=1)
    dupes = sorted({name for name in stripped if stripped.count(name) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; expected unique names")
    return frame


def _text_columns(path: Path) -> list[str]:
    schema = pq.read_schema(path)
    return [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


def _check_csv_header(path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    # pandas would rename a repeated or empty name (`x.1`, `Unnamed: 3`): read it as written.
    names = [name.strip() for name in header]
    dupes = sorted({name for name in names if name and names.count(name) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; expected unique names")
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty and len(header) > 1:
        raise DataError(
            f"{path}: column(s) {empty} of the header (counting from 1) have no name; name "
            "them, or remove them from the file"
        )
    if len(header) == 1:
        for sep, name in _DELIMITERS.items():
            if sep in header[0]:
                raise DataError(
                    f"{path}: the header is a single column split by {name}s; "
                    "expected a comma-separated file"
                )


# ---------------------------------------------------------------- in chunks


@dataclass(frozen=True)
class Chunk:
    """Rows of a file, indexed by their 0-based position in it; `progress` counts bytes (CSV)
    or rows (Parquet) read so far."""

    frame: pd.DataFrame
    progress: int


def read_columns(path: Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without loading its rows.

    DataError for a name that repeats or is empty: which of two columns is meant cannot be told.
    """
    if _kind(path) == "csv":
        _check_csv_header(path)
        return list(pd.read_csv(path, nrows=0, skipinitialspace=True).columns)

    names = list(pq.ParquetFile(path).schema_arrow.names)
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; expected unique names")
    return names


def column_type(path: Path, column: str) -> pa.DataType:
    """The Arrow type of a column as `read_chunks` gives it: text for a CSV (read as written),
    the stored type for Parquet (text as a dictionary when it is stored as one)."""
    if _kind(path) == "csv":
        return pa.string()
    return pq.ParquetFile(path).schema_arrow.field(column).type


def nested_columns(path: Path, columns: list[str]) -> dict[str, str]:
    """Columns of a Parquet file holding lists, structs, maps, bytes or dates, with their types.

    No model column takes them (prepare refuses dates as features); a CSV holds none.
    """
    if _kind(path) == "csv":
        return {}
    schema = pq.ParquetFile(path).schema_arrow
    found: dict[str, str] = {}
    for name in columns:
        kind = schema.field(name).type
        odd = pa.types.is_nested(kind) or pa.types.is_temporal(kind)
        if odd or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            found[name] = str(kind)
    return found


def read_chunks(
    path: Path, columns: list[str], chunk_rows: int, *, as_category: Sequence[str] = ()
) -> Iterator[Chunk]:
    """The selected columns of a file in chunks of at most `chunk_rows` rows, as text (CSV).

    Parquet text columns named in `as_category` come as `category`, decoded from the file's
    dictionary once per chunk rather than into one string per row.
    """
    offset = 0
    if _kind(path) == "csv":
        with path.open("rb") as fh:
            reader = pd.read_csv(
                fh, usecols=columns, chunksize=chunk_rows, skipinitialspace=True, dtype=object
            )
            for frame in reader:
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield Chunk(frame, fh.tell())
        return

    dictionary = [name for name in _text_columns(path) if name in as_category]
    parquet = pq.ParquetFile(path, read_dictionary=dictionary)
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield Chunk(frame, offset)


def size_for_progress(path: Path) -> int:
    """What `Chunk.progress` counts up to: the file's bytes (CSV) or rows (Parquet)."""
    if _kind(path) == "csv":
        return path.stat().st_size

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as Parquet: {exc}") from None
