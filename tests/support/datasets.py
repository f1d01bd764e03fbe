"""A seeded generator of realistic tabular datasets unlike the example, for the end-to-end suite.

Each `Spec` describes a table the way a user's export looks: missing values written every way
(NaN, None, pandas NA, empty strings), booleans, integer-coded categories, numbers stored as text
with blanks, an id-like column, a constant column, rare positives, labels such as `1`/`0`,
`true`/`false` or `bad`/`good`, and column names with spaces and non-ASCII letters. The label
depends on several features through a logistic model, so a fitted model ranks well above chance.

`rows(spec, n, seed)` draws a table; the same arguments always give the same bytes, and another
seed gives fresh rows from the same distribution (held-out data the model never saw).
`prepared(spec, directory, n)` writes a table and splits it as `prepare` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Missing = Literal["nan", "none", "na", "blank", "mixed"]
Kind = Literal[
    "numeric",  # floats, missing as NaN
    "integer",  # whole numbers, no missing
    "numeric_text",  # numbers written as text, some blank or spaces-only
    "categorical",  # text levels, some missing (the way `missing` says)
    "boolean",  # True/False, some missing
    "int_coded",  # integers that stand for categories (a region code)
    "constant",  # one value in every row
    "id_like",  # a distinct reference per row (init takes it as the id column)
    "high_cardinality",  # hundreds of distinct text values, repeated
]


@dataclass(frozen=True)
class Column:
    """One feature column: its kind, how it is missing, and its weight on the label's log-odds."""

    name: str
    kind: Kind
    weight: float = 0.0
    missing: float = 0.0
    marker: Missing = "nan"
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A dataset: its columns, its target and labels, its file format and size."""

    name: str
    columns: tuple[Column, ...]
    target: str
    positive: Any  # the positive label as the file holds it (text, int or bool)
    negative: Any
    positive_rate: float
    rows: int
    fmt: Literal["csv", "parquet"]
    # Parquet only: store text and booleans as pandas' nullable dtypes (missing = pd.NA).
    nullable: bool = False
    seed: int = 0
    # What a drifted batch changes: one numeric column shifted, one categorical given a new label.
    shift: tuple[str, float] = ("", 0.0)
    new_category: tuple[str, str] = ("", "")
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def positive_text(self) -> str:
        """The positive label as text, as `init --positive-label` takes it."""
        return _label_text(self.positive)

    @property
    def negative_text(self) -> str:
        """The negative label as text."""
        return _label_text(self.negative)

    @property
    def file_name(self) -> str:
        """Name of the dataset file."""
        return f"{self.name}.{self.fmt}"


def _label_text(value: Any) -> str:
    # How the label reads in the file: a CSV writes Python's True as "True".
    return str(value)


def _mask(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return rng.random(n) < share


def _missing_value(marker: Missing, rng: np.random.Generator) -> Any:
    if marker == "mixed":
        marker = rng.choice(np.array(["nan", "none", "blank"]))  # type: ignore[assignment]
    return {"nan": np.nan, "none": None, "na": pd.NA, "blank": ""}[marker]


def _with_missing(
    values: list[Any], col: Column, rng: np.random.Generator
) -> tuple[list[Any], np.ndarray]:
    hit = _mask(rng, len(values), col.missing)
    out = [_missing_value(col.marker, rng) if h else v for v, h in zip(values, hit, strict=True)]
    return out, hit


def _draw_column(
    col: Column, n: int, rng: np.random.Generator, row_offset: int
) -> tuple[list[Any], np.ndarray]:
    """The column's values and its signal (a standardised number per row) for the label."""
    if col.kind in ("numeric", "numeric_text"):
        base = rng.gamma(3.0, 2.0, n)
        signal = (base - 6.0) / 3.5
        values: list[Any] = list(np.round(base * 100, 2))
        values, hit = _with_missing(values, col, rng)
        signal = np.where(hit, 0.0, signal)
        if col.kind == "numeric_text":
            # Numbers as an export writes them: padded, some blank or only spaces.
            values = [
                ("  " if rng.random() < 0.5 else "") if h else f" {v:.2f}"
                for v, h in zip(values, hit, strict=True)
            ]
        return values, signal
    if col.kind == "integer":
        base = rng.integers(0, 60, n)
        return list(base), (base - 30) / 17.0
    if col.kind in ("categorical", "int_coded", "high_cardinality"):
        levels = col.levels or tuple(str(i) for i in range(1, 9))
        if col.kind == "high_cardinality":
            levels = tuple(f"D{i:04d}" for i in range(400))
        probs = np.linspace(2.0, 1.0, len(levels))
        idx = rng.choice(len(levels), n, p=probs / probs.sum())
        effect = np.linspace(-1.5, 1.5, len(levels))
        signal = effect[idx] if col.kind != "high_cardinality" else np.zeros(n)
        raw: list[Any] = [int(levels[i]) if col.kind == "int_coded" else levels[i] for i in idx]
        values, hit = _with_missing(raw, col, rng)
        return values, np.where(hit, 0.0, signal)
    if col.kind == "boolean":
        flag = rng.random(n) < 0.4
        values, hit = _with_missing([bool(v) for v in flag], col, rng)
        return values, np.where(hit, 0.0, np.where(flag, 1.0, -1.0))
    if col.kind == "constant":
        return [col.levels[0] if col.levels else 1] * n, np.zeros(n)
    if col.kind == "id_like":
        return [f"R-{row_offset + i:07d}" for i in range(n)], np.zeros(n)
    raise AssertionError(col.kind)


def _intercept(logit: np.ndarray, rate: float) -> float:
    """The intercept that makes the mean probability `rate` (bisection on a monotone function)."""
    low, high = -30.0, 30.0
    for _ in range(80):
        mid = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logit + mid)))) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def rows(spec: Spec, n: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """`n` rows (default: spec.rows) of the dataset, seeded (default: spec.seed)."""
    n = spec.rows if n is None else n
    seed = spec.seed if seed is None else seed
    rng = np.random.default_rng([seed, n])
    # Ids continue across seeds so that held-out rows never repeat a training id.
    offset = seed * 10_000_000
    columns: dict[str, list[Any]] = {}
    logit = np.zeros(n)
    for col in spec.columns:
        values, signal = _draw_column(col, n, rng, offset)
        columns[col.name] = values
        logit += col.weight * signal
    # The intercept comes from the spec's own seed, so every draw shares one distribution.
    reference_rng = np.random.default_rng([spec.seed, 0])
    reference = np.zeros(4000)
    for col in spec.columns:
        _, signal = _draw_column(col, 4000, reference_rng, 0)
        reference += col.weight * signal
    intercept = _intercept(reference, spec.positive_rate)
    positive = rng.random(n) < 1 / (1 + np.exp(-(logit + intercept)))
    frame = pd.DataFrame(columns)
    frame[spec.target] = np.where(positive, spec.positive, spec.negative).tolist()
    return _typed(frame, spec)


def _typed(frame: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Column dtypes as the file format holds them."""
    out = frame.copy()
    for col in spec.columns:
        values = out[col.name]
        if col.kind in ("categorical", "high_cardinality", "id_like", "numeric_text"):
            dtype: Any = pd.StringDtype("python") if spec.nullable else object
            out[col.name] = values.astype(dtype)
        elif col.kind == "boolean":
            out[col.name] = values.astype("boolean" if spec.nullable else object)
        elif col.kind == "int_coded" and spec.nullable:
            out[col.name] = values.astype("Int64")
        elif col.kind in ("numeric", "int_coded"):
            out[col.name] = pd.to_numeric(values.replace({"": np.nan}), errors="coerce")
    if isinstance(spec.positive, bool):
        out[spec.target] = out[spec.target].astype(bool)
    elif isinstance(spec.positive, int):
        out[spec.target] = out[spec.target].astype("int64")
    return out


def write(frame: pd.DataFrame, path: Path, spec: Spec) -> Path:
    """Write `frame` as the spec's format (CSV without index, or Parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


# ------------------------------------------------------------------------------------ the specs

C = Column

SPECS: tuple[Spec, ...] = (
    Spec(
        name="credit",
        columns=(
            C("applicant ref", "id_like"),
            C("durée (mois)", "integer", weight=0.9),
            C("montant", "numeric_text", weight=0.8, missing=0.08),
            C("purpose", "categorical", weight=1.0, missing=0.15, marker="mixed",
              levels=("car", "furniture", "education", "business", "repairs")),
            C("housing", "categorical", weight=0.5, levels=("own", "rent", "free")),
            C("foreign worker", "boolean", weight=0.4, missing=0.1, marker="blank"),
            C("savings", "categorical", weight=0.7, missing=0.25, marker="none",
              levels=("little", "moderate", "rich")),
        ),
        target="risk", positive="bad", negative="good", positive_rate=0.3,
        rows=4000, fmt="csv", seed=11,
        shift=("durée (mois)", 40.0), new_category=("purpose", "crypto"),
        notes=("text labels bad/good", "missing categoricals as NaN, None and blanks",
               "numbers as text with blanks", "names with spaces and accents"),
    ),
    Spec(
        name="rare_fraud",
        columns=(
            C("amount", "numeric", weight=1.4, missing=0.05),
            C("merchant code", "int_coded", weight=1.0, missing=0.05, marker="na"),
            C("card present", "boolean", weight=0.8, missing=0.1, marker="na"),
            C("country", "categorical", weight=0.6, missing=0.1, marker="na",
              levels=("FR", "DE", "ES", "IT", "NL", "PL")),
            C("device", "high_cardinality"),
            C("channel", "constant", levels=("online",)),
            C("hour", "integer", weight=0.3),
        ),
        target="is_fraud", positive=1, negative=0, positive_rate=0.02,
        rows=10000, fmt="parquet", nullable=True, seed=12,
        shift=("amount", 900.0), new_category=("country", "BR"),
        notes=("2% positives labelled 1/0", "pandas NA in nullable text, boolean and Int64",
               "a constant column", "a high-cardinality column", "integer-coded categories"),
    ),
    Spec(
        name="approvals",
        columns=(
            C("Größe", "numeric", weight=1.0, missing=0.1),
            C("région", "categorical", weight=1.2, missing=0.1, marker="blank",
              levels=("Nord", "Sud", "Île-de-France", "Ouest")),
            C("has guarantor", "boolean", weight=0.9, missing=0.15, marker="none"),
            C("code postal", "int_coded", weight=0.5, missing=0.1),
            C("version", "constant", levels=("v2",)),
            C("âge", "integer", weight=0.6),
        ),
        target="approved", positive="true", negative="false", positive_rate=0.45,
        rows=4000, fmt="csv", seed=13,
        shift=("Größe", 1500.0), new_category=("région", "Corse"),
        notes=("labels true/false, which pandas would read as booleans", "booleans with missing",
               "non-ASCII names"),
    ),
    Spec(
        name="telecom_yes_no",
        columns=(
            C("customer id", "id_like"),
            C("plan", "categorical", weight=1.2, missing=0.2, marker="none",
              levels=("basic", "plus", "premium", "family")),
            C("monthly fee", "numeric", weight=0.9, missing=0.05),
            C("support calls", "integer", weight=0.8),
            C("paperless", "boolean", weight=0.4),
            C("contract type", "categorical", weight=1.0,
              levels=("monthly", "one year", "two years")),
        ),
        target="churned", positive="yes", negative="no", positive_rate=0.25,
        rows=4000, fmt="parquet", seed=14,
        shift=("monthly fee", 1200.0), new_category=("plan", "unlimited"),
        notes=("labels yes/no (YAML 1.1 booleans)", "Parquet with object columns"),
    ),
    Spec(
        name="defaults_01",
        columns=(
            C("income (k€)", "numeric_text", weight=1.1, missing=0.1),
            C("employment", "categorical", weight=0.9, missing=0.3, marker="blank",
              levels=("employed", "self-employed", "student", "retired", "unemployed")),
            C("owns home", "boolean", weight=0.5, missing=0.05, marker="nan"),
            C("region code", "int_coded", weight=0.7),
            C("batch", "constant", levels=("2024-Q1",)),
            C("loan ref", "high_cardinality"),
            C("years at address", "integer", weight=0.4),
        ),
        target="default", positive=1, negative=0, positive_rate=0.08,
        rows=5000, fmt="csv", seed=15,
        shift=("years at address", 90.0), new_category=("employment", "gig"),
        notes=("labels 1/0 in a CSV", "a categorical missing 30% as blanks"),
    ),
)  # fmt: skip


def by_name(name: str) -> Spec:
    """The spec called `name`."""
    return next(s for s in SPECS if s.name == name)


def prepared(spec: Spec, directory: Path, n: int) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """`n` rows of `spec` written to `directory`, read and split as `prepare` does (seed 1):
    train, test and the feature schema."""
    # Imported here: the generator itself needs nothing of the project.
    from gitops_ml.core.dataset import prepare
    from gitops_ml.core.params import DataParams
    from gitops_ml.infra.tables import read_table

    path = write(rows(spec, n), directory / spec.file_name, spec)
    ids = [c.name for c in spec.columns if c.kind == "id_like"]
    positive = spec.positive if isinstance(spec.positive, str) else str(spec.positive).lower()
    data = DataParams(
        raw=str(path),
        target=spec.target,
        positive_label=positive if isinstance(spec.positive, str) else spec.positive,
        id_column=ids[0] if ids else None,
    )
    return prepare(read_table(path, text=[spec.target]), data, seed=1)
