"""The prepare stage: read the raw table, validate it, clean it, split it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gitops_ml.errors import DataError
from gitops_ml.params import DataParams
from gitops_ml.schema import FeatureSchema, with_statistics

# A text column is treated as numeric when at least this share of its values parse as numbers:
# a few stray strings in a numeric column are an error to report, not a reason to one-hot it.
NUMERIC_SHARE = 0.95
_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class Table:
    """A raw table and where it came from, so errors can name the file and row."""

    frame: pd.DataFrame
    path: Path

    def where(self, index: object) -> str:
        """Human position of a row: the CSV line (header is line 1) or the 1-based row."""
        pos = int(index)  # type: ignore[call-overload]
        if self.path.suffix.lower() == ".csv":
            return f"line {pos + 2}"
        return f"row {pos + 1}"


def read_table(path: Path, *, text_as_category: bool = False) -> Table:
    """Read a CSV or Parquet file; raise DataError saying what is wrong with it.

    `text_as_category` reads Parquet text columns as `category` (codes plus one copy of each
    label): ten million rows of a low-cardinality text column then take 10 MB instead of ~100 MB.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    try:
        if path.suffix.lower() == ".csv":
            _check_csv_header(path)
            frame = pd.read_csv(path, skipinitialspace=True)
        elif text_as_category:
            frame = pd.read_parquet(path, read_dictionary=_text_columns(path))
        else:
            frame = pd.read_parquet(path)
    except DataError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        raise DataError(f"{path}: cannot be read as {kind}: {exc}") from None
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"{path}: duplicate column names {dupes}; expected unique names")
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return Table(frame=frame, path=path)


def _text_columns(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    return [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


def _check_csv_header(path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    dupes = sorted({name for name in header if header.count(name) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; expected unique names")
    if len(header) == 1:
        for sep, name in _DELIMITERS.items():
            if sep in header[0]:
                raise DataError(
                    f"{path}: the header is a single column split by {name}s; "
                    "expected a comma-separated file"
                )


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text values and turn blank strings into missing values (returns a new frame).

    Categorical columns stay categorical: only their labels are stripped, not every row.
    """
    # Copy-on-write: a shallow copy whose replaced columns never reach the caller's frame.
    out = frame.copy(deep=False)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            if not _is_text(out[col].cat.categories.to_series()):
                continue  # numbers or dates as categories: nothing to strip
            labels = out[col].cat.categories.astype("str").str.strip()
            out[col] = recategorize(out[col], labels, pd.Index(labels[labels != ""].unique()))
        elif _is_text(out[col]):
            stripped = out[col].str.strip()
            out[col] = stripped.mask(stripped == "")
    return out


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


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    if not _is_text(series):
        return False
    # Parse each distinct value once, weighted by its count: millions of rows hold few values.
    counts = series.value_counts(dropna=True)
    counts = counts[counts > 0]  # a categorical column also counts its unused labels
    if counts.empty:
        return False
    parsed = pd.to_numeric(pd.Series(counts.index.astype(object)), errors="coerce").notna()
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
    negative = _negative_label(frame, params, source)
    return FeatureSchema(
        target=params.target,
        positive_label=str(params.positive_label),
        negative_label=negative,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        id_column=params.id_column,
    )


def _negative_label(frame: pd.DataFrame, params: DataParams, source: Path) -> str:
    labels = sorted(set(pd.Series(frame[params.target].dropna().unique()).astype(str)))
    positive = str(params.positive_label)
    if positive not in labels:
        raise DataError(
            f"{source}: column {params.target!r}: positive label {positive!r} does not occur; "
            f"the values present are {labels}"
        )
    others = [label for label in labels if label != positive]
    if not others:
        raise DataError(
            f"{source}: column {params.target!r} holds only {positive!r}; expected two classes"
        )
    return others[0] if len(others) == 1 else _majority_other(frame, params, positive)


def _majority_other(frame: pd.DataFrame, params: DataParams, positive: str) -> str:
    counts = frame[params.target].astype(str).value_counts()
    return str(counts.drop(positive).index[0])


def validate(table: Table, schema: FeatureSchema, max_missing: float) -> pd.DataFrame:
    """Check the cleaned table against the schema with pandera; return it with typed columns.

    Numeric columns become float64, categorical columns `category`, the target 0/1 (int8).
    """
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    frame = table.frame
    labels = [schema.positive_label, schema.negative_label]
    target_text = frame[schema.target].astype("string")
    missing_check = pa.Check(
        lambda s: bool(s.isna().mean() <= max_missing),
        element_wise=False,
        ignore_na=False,
        error=f"more than {max_missing:.0%} of values missing (data.max_missing)",
    )
    columns: dict[str, pa.Column] = {
        schema.target: pa.Column(
            "string", checks=pa.Check.isin(labels), nullable=False, coerce=True
        ),
        **{
            col: pa.Column(float, checks=missing_check, nullable=True, coerce=True)
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
        out[col] = _as_category(typed[col])
    out[schema.target] = (typed[schema.target] == schema.positive_label).astype("int8")
    return out


def _as_category(series: pd.Series) -> pd.Series:
    """The column as `category` of sorted string labels, as `astype("string")` then category."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype("string").astype("category")
    labels = series.cat.categories.astype("string")
    used = np.unique(series.cat.codes.to_numpy())
    present = labels[used[used >= 0]]
    return recategorize(series, labels, pd.Index(sorted(set(present)), dtype="string"))


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
        else:
            what = check
        lines.append(f"  column {column!r}{at}{more}: {what}")
    return "\n".join(lines)


def split(
    frame: pd.DataFrame, target: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified, seeded train/test split; the same inputs always give the same rows."""
    from sklearn.model_selection import train_test_split

    counts = frame[target].value_counts()
    if counts.min() < 2:
        raise DataError(
            f"column {target!r}: each class needs at least two rows to split, "
            f"got {counts.to_dict()}"
        )
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def prepare(
    table: Table, params: DataParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSchema]:
    """Pure core of the stage: cleaned, validated, split data and the schema it follows."""
    cleaned = Table(frame=clean(table.frame), path=table.path)
    schema = infer_schema(cleaned.frame, params, table.path)
    typed = validate(cleaned, schema, params.max_missing)
    train, test = split(typed, schema.target, params.test_size, seed)
    return train, test, with_statistics(schema, train)


def run(raw: Path, out_dir: Path, params: DataParams, seed: int) -> FeatureSchema:
    """Read `raw`, prepare it, and write train/test Parquet and schema.json to `out_dir`."""
    from gitops_ml.files import write_atomic, write_text

    train, test, schema = prepare(read_table(raw, text_as_category=True), params, seed)
    write_atomic(out_dir / "train.parquet", lambda p: train.to_parquet(p, index=False))
    write_atomic(out_dir / "test.parquet", lambda p: test.to_parquet(p, index=False))
    write_text(out_dir / "schema.json", schema.to_json())
    return schema
