"""Batch scoring: a CSV or Parquet file in, probabilities and labels out, in chunks.

Memory stays flat whatever the input size: the file is read `chunk_rows` rows at a time
(pandas' chunked CSV reader, pyarrow's Parquet batches), each chunk is validated, scored and
appended to a temporary output, which is renamed into place only when every row is scored.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

from gitops_ml.core.errors import DataError, UserError
from gitops_ml.core.formats import TableKind, require_table
from gitops_ml.core.formats import table_kind as kind_of
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import Table, clean
from gitops_ml.infra import failpoints, model_source
from gitops_ml.infra.files import write_atomic
from gitops_ml.infra.model_source import LoadedModel
from gitops_ml.infra.tables import (
    READ_ERRORS,
    CsvLines,
    column_type,
    nested_columns,
    read_chunks,
    read_columns,
    size_for_progress,
)
from gitops_ml.serving import champion, records, scoring

SHOWN = 5
# Rows of the input's start that both paths score before the compiled one scores the file.
SPOT_CHECK_ROWS = 256


@dataclass(frozen=True)
class Scored:
    """What a batch run did."""

    rows: int
    model_name: str
    model_version: str
    engine: str  # which path scored: the compiled model or scikit-learn


def model_frame(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    path: Path,
    lines: CsvLines | None = None,
    text: bool = True,
) -> pd.DataFrame:
    """Clean and check one chunk, returning the model's input; DataError names bad rows.

    Categories come as text, or as `category` with `text` False (`records.model_input`).
    """
    # Only numbers are cleaned here: labelling a category (`records.model_input`) strips it and
    # reads a blank one as missing, and does so once per distinct value of a `category` column.
    # A column of numbers already (a Parquet file's) needs only its infinities found.
    textual = [col for col in schema.numeric if not pd.api.types.is_numeric_dtype(frame[col])]
    cleaned = clean(frame[textual])
    table = Table(frame=frame, path=path, lines=lines)
    typed: dict[str, Any] = {}
    problems = []
    for col in schema.numeric:
        if col in textual:
            raw = cleaned[col]
            numbers = pd.to_numeric(raw, errors="coerce")
            values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = raw.notna().to_numpy() & ~np.isfinite(values)
        else:
            raw = frame[col]
            values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isinf(values)
        if bad.any():
            rows = [table.where(i) for i in raw.index[bad][:SHOWN]]
            got = [repr(v) for v in raw[bad].head(SHOWN)]
            problems.append(
                f"  column {col!r} at {', '.join(rows)}: expected finite numbers, "
                f"got {', '.join(got)}"
            )
        typed[col] = values
    if problems:
        head = f"{path}: the data does not match the model's schema"
        raise DataError("\n".join([head, *problems]))
    for col in schema.categorical:
        typed[col] = frame[col]
    return records.model_input(pd.DataFrame(typed, index=frame.index), schema, text)


@dataclass(frozen=True)
class ChunkScores:
    """One chunk's scores: its id column (if any), probabilities and labels."""

    ids: pd.Series | None
    probability: np.ndarray
    positive: np.ndarray  # per row: labelled with the positive label
    labels: tuple[str, str]  # (negative, positive)

    def frame(self) -> pd.DataFrame:
        """The scores as a frame: id, probability, label."""
        out = pd.DataFrame(index=self.ids.index if self.ids is not None else None)
        if self.ids is not None:
            out[self.ids.name] = self.ids
        out["probability"] = self.probability
        out["label"] = np.where(self.positive, self.labels[1], self.labels[0])
        return out

    def table(self, schema: pa.Schema) -> pa.Table:
        """The scores as an Arrow table of `schema` (`scores_schema`): no text made per row."""
        label = pa.array(self.labels, pa.large_string()).take(self.positive.astype(np.int8))
        columns = {"probability": pa.array(self.probability), "label": label}
        if self.ids is not None:
            kind = schema.field(str(self.ids.name)).type
            columns = {str(self.ids.name): pa.Array.from_pandas(self.ids, type=kind), **columns}
        return pa.table(columns, schema=schema)


def scores_schema(id_column: str | None, id_type: pa.DataType | None) -> pa.Schema:
    """The Arrow schema of a Parquet scores file: the id column (if any), probability, label.

    The id's type is the input's, fixed before the first chunk: a chunk whose ids are all
    missing would otherwise give the column no type for the ids after it.
    """
    ids = [pa.field(id_column, id_type)] if id_column is not None else []
    return pa.schema([*ids, pa.field("probability", pa.float64()), ("label", pa.large_string())])


def score_chunk(
    frame: pd.DataFrame,
    model: LoadedModel,
    threshold: float,
    id_column: str | None,
    path: Path,
    lines: CsvLines | None = None,
    scorer: scoring.Scorer | None = None,
) -> ChunkScores:
    """Scores of one chunk: the id column (if any), probability and label.

    `scorer` computes the probabilities (default: the model's scikit-learn pipeline).
    """
    schema = model.schema
    scorer = scorer or scoring.sklearn_scorer(model.pipeline, schema, "")
    proba = scorer.proba(model_frame(frame, schema, path, lines, text=not scorer.compiled))
    return ChunkScores(
        ids=frame[id_column] if id_column is not None else None,
        probability=proba,
        positive=records.is_positive(proba, threshold),
        labels=(schema.negative_label, schema.positive_label),
    )


class _Writer:
    """Appends scored chunks to a CSV or Parquet file (of `schema`)."""

    def __init__(self, path: Path, kind: TableKind, schema: pa.Schema) -> None:
        self.path, self.kind, self.schema = path, kind, schema
        self._parquet: Any = None
        self._csv: Any = None

    def write(self, scores: ChunkScores) -> None:
        if self.kind == "csv":
            if self._csv is None:
                self._csv = self.path.open("w", encoding="utf-8", newline="")
                scores.frame().to_csv(self._csv, index=False)
            else:
                scores.frame().to_csv(self._csv, index=False, header=False)
            return

        if self._parquet is None:
            # A dictionary pays only for the label's two values: ids and probabilities are
            # mostly distinct, so trying one for them costs time and space.
            self._parquet = pq.ParquetWriter(self.path, self.schema, use_dictionary=["label"])
        self._parquet.write_table(scores.table(self.schema))

    def close(self) -> None:
        if self._csv is not None:
            self._csv.close()
        if self._parquet is not None:
            self._parquet.close()


def score_file(
    model: LoadedModel,
    source: Path,
    dest: Path,
    *,
    kind: TableKind,
    threshold: float,
    id_column: str | None,
    chunk_rows: int,
    advance: Callable[[int], None] = lambda _: None,
    id_required: bool = False,
    scorer: scoring.Scorer | None = None,
) -> int:
    """Score `source` into `dest` chunk by chunk; return the number of rows.

    The id column is copied when the file has it; with `id_required` (named by the user) a file
    without it is an error. `scorer` computes the probabilities (default: scikit-learn).
    """
    try:
        columns = read_columns(source)
        nested = nested_columns(source, [c for c in model.schema.features if c in columns])
    except READ_ERRORS as exc:
        raise DataError(f"{source}: cannot be read: {exc}") from None
    missing = [c for c in model.schema.features if c not in columns]
    if missing:
        raise DataError(
            f"{source}: missing feature column(s) {missing}; "
            f"the model takes {model.schema.features}"
        )
    if nested:
        kinds = ", ".join(f"{name!r} ({kind})" for name, kind in nested.items())
        raise DataError(f"{source}: column(s) {kinds} hold lists, structs, bytes or dates; "
                        "expected numbers or text in each feature column")  # fmt: skip
    if id_required and id_column not in columns:
        raise DataError(
            f"{source}: no column {id_column!r} (--id-column) to copy to the output; its "
            f"columns are {columns}"
        )
    keep_id = id_column if id_column is not None and id_column in columns else None
    wanted = [*([keep_id] if keep_id else []), *model.schema.features]
    lines = CsvLines(source) if kind_of(source) == "csv" else None
    # Text features come as categories; the id column (even when a feature too) is copied as
    # the file holds it.
    categories = [col for col in model.schema.categorical if col != keep_id]
    id_type = column_type(source, keep_id) if keep_id is not None else None
    writer = _Writer(dest, kind, scores_schema(keep_id, id_type))
    rows = 0
    with ExitStack() as stack:
        stack.callback(writer.close)
        try:
            for chunk in read_chunks(source, wanted, chunk_rows, as_category=categories):
                if chunk.frame.empty:
                    continue  # a header without rows reads as one empty chunk
                scored = score_chunk(chunk.frame, model, threshold, keep_id, source, lines, scorer)
                writer.write(scored)
                rows += len(chunk.frame)
                advance(chunk.progress)
                failpoints.reached("predict-chunk")
        except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException) as exc:
            raise DataError(f"{source}: cannot be read after row {rows}: {exc}") from None
        if rows == 0:
            raise DataError(f"{source}: the file has a header but no data rows")
    return rows


def run(
    uri: str,
    source: Path,
    dest: Path,
    *,
    threshold: float,
    schema_path: Path,
    chunk_rows: int = 50_000,
    id_column: str | None = None,
    progress: bool = True,
    engine: str = "auto",
    threshold_override: float | None = None,
) -> Scored:
    """Load the model at `uri` and score `source` into `dest` (written atomically).

    `engine` is serve.engine: `auto` scores with the compiled model when it passes the fidelity
    check, `sklearn` with scikit-learn. Records are labelled at `threshold_override`
    (serve.threshold) when set, else at the threshold stored with the model, else at `threshold`.
    """
    require_table(source, "--input")
    kind = require_table(dest, "--output")
    if not source.is_file():
        raise DataError(f"{source}: file not found")
    _check_output(source, dest)
    model = model_source.load(champion.resolve(uri), schema_path=schema_path)
    used = records.decision_threshold(threshold_override, model.threshold, threshold)
    scorer = spot_checked(scoring.choose(model, used, engine), model, source, used)
    if not scorer.compiled:
        scoring.report(scorer, f"{model.info.name} {model.info.version}")
    ids = id_column or model.schema.id_column
    total = size_for_progress(source)
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=True,
    )
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        task = bar.add_task(f"scoring {source.name}", total=total)
        rows = score_file(
            model,
            source,
            tmp,
            kind=kind,
            threshold=used,
            id_column=ids,
            chunk_rows=chunk_rows,
            advance=lambda done: bar.update(task, completed=done),
            id_required=id_column is not None,
            scorer=scorer,
        )

    with bar:
        try:
            write_atomic(dest, write)
        except OSError as exc:  # the output's place: no room, no permission
            raise UserError(f"--output {dest}: cannot be written: {exc.strerror or exc}") from None
    return Scored(
        rows=rows,
        model_name=model.info.name,
        model_version=model.info.version,
        engine=scorer.engine,
    )


def spot_checked(
    scorer: scoring.Scorer, model: LoadedModel, source: Path, threshold: float
) -> scoring.Scorer:
    """`scorer`, or scikit-learn when the compiled path disagrees with it on the input's first
    SPOT_CHECK_ROWS rows (the fidelity check at load scored made-up records; these are real).

    A start that cannot be read or checked is left for the scoring itself to report.
    """
    if not scorer.compiled:
        return scorer
    try:
        # Read as the scoring reads the file, so the check covers the same path; the reader is
        # dropped (and its file closed) as soon as the first chunk is out.
        schema = model.schema
        first = next(
            read_chunks(
                source, list(schema.features), SPOT_CHECK_ROWS, as_category=schema.categorical
            )
        ).frame
        codes = model_frame(first, schema, source, text=False)
        text = model_frame(first, schema, source, text=True)
    except (DataError, KeyError, StopIteration, *READ_ERRORS):
        return scorer
    if first.empty:
        return scorer
    try:
        want = scoring.sklearn_scorer(model.pipeline, model.schema, "").proba(text)
    except Exception:  # the reference cannot score these rows: nothing to check against
        return scorer
    try:
        why = scoring.disagreement(scorer.proba(codes), want, threshold)
    except Exception as exc:  # a failure of the compiled path must not stop the run
        why = f"the compiled path failed: {type(exc).__name__}: {exc}"
    if why is None:
        return scorer
    reason = f"fidelity check on the first rows of {source.name} failed: {why}"
    return scoring.sklearn_scorer(model.pipeline, model.schema, reason)


def _check_output(source: Path, dest: Path) -> None:
    """Refuse an output that cannot be written, before anything is scored."""
    if dest.is_dir():
        raise UserError(f"--output {dest}: is a directory; expected a file path")
    if dest.parent.exists() and not dest.parent.is_dir():
        raise UserError(f"--output {dest}: {dest.parent} is not a directory")
    if dest.exists() and dest.resolve() == source.resolve():
        raise UserError(
            f"--output {dest}: is the input file; scores are written to another file, so the "
            "input is never overwritten"
        )
