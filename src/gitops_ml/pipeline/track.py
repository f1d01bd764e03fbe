"""The evaluate stage's last command: the model logged to MLflow with the metrics `evaluate`
wrote and the figures `plot` drew.

A process of its own, run by DVC after those two (dvc.yaml): MLflow is loaded here and
scikit-learn is not (the model file is checked against the allow-list and logged as its bytes,
never loaded), so the stage's memory peaks at the largest of its processes rather than at the
libraries of all of them in one (docs/scale.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gitops_ml.core.errors import UserError
from gitops_ml.core.params import Params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import figures, tracking
from gitops_ml.infra.files import read_json
from gitops_ml.infra.model_files import check_allowed


@dataclass(frozen=True)
class Tracked:
    """What `run` logged: the MLflow run, and how many metrics and figures it holds."""

    run_id: str
    metrics: int
    figures: int


def read_metrics(path: Path) -> dict[str, float]:
    """The metrics file `evaluate` wrote, each value a finite number (UserError naming it)."""
    data = read_json(path, "evaluate")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected an object of metric names and numbers")
    metrics: dict[str, float] = {}
    for name, value in data.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise UserError(f"{path}: metric {name!r} is {value!r}; expected a finite number")
        metrics[str(name)] = float(value)
    return metrics


def drawn_figures(figures_dir: Path) -> list[Path]:
    """The PNGs `plot` draws, each of which must be there."""
    pngs = [figures_dir / f"{name}.png" for name in figures.NAMES]
    missing = [p.name for p in pngs if not p.is_file()]
    if missing:
        raise UserError(f"{figures_dir}: no {', '.join(missing)}; `gitops-ml plot` draws them")
    return pngs


def first_rows(path: Path, columns: list[str], n: int = 5) -> pd.DataFrame:
    """The first `n` rows of a Parquet split as pandas reads them (types from the file's pandas
    metadata), without reading further: a 1M-row project's test split is 200,000 rows."""
    try:
        split = pq.ParquetFile(path)
    except FileNotFoundError:
        raise UserError(f"{path}: not found; `gitops-ml prepare` writes it") from None
    first = next(split.iter_batches(batch_size=n, columns=columns), None)
    if first is None:  # no rows: nothing to read beyond the schema
        return pd.read_parquet(path, columns=columns)
    rows: pd.DataFrame = pa.Table.from_batches([first]).to_pandas()
    return rows


def run(prepared: Path, model_path: Path, eval_dir: Path, params: Params) -> Tracked:
    """Log the model at `model_path` (when it has no run yet) with `eval_dir/metrics.json` and
    the figures in `eval_dir/figures/` to MLflow."""
    if not model_path.is_file():
        raise UserError(f"{model_path}: model file not found")
    check_allowed(model_path.read_bytes(), str(model_path))
    schema = FeatureSchema.read(prepared / "schema.json")
    metrics = read_metrics(eval_dir / "metrics.json")
    pngs = drawn_figures(eval_dir / "figures")
    # Five rows give the signature its columns and types, as the model takes them.
    test = prepared / "test.parquet"
    example = first_rows(test, list(schema.features))
    run_id = tracking.log_evaluation(
        model_path=model_path,
        example=example,
        params=params,
        data_files=[prepared / "train.parquet", test],
        schema=schema,
        metrics=metrics,
        figures=pngs,
    )
    return Tracked(run_id=run_id, metrics=len(metrics), figures=len(pngs))
