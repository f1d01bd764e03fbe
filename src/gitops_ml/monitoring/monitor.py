"""The monitor command: read a current batch and the training reference, assess the batch,
and write the report as JSON, markdown (the drift issue's body) and HTML.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from gitops_ml.core.dataset import validate
from gitops_ml.core.errors import DataError
from gitops_ml.core.params import Params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import Table, clean
from gitops_ml.infra import model_source
from gitops_ml.infra.files import write_json, write_text
from gitops_ml.infra.tables import read_table
from gitops_ml.monitoring import rendering
from gitops_ml.monitoring.assessment import assess
from gitops_ml.monitoring.results import MonitorReport

# Exit code of `gitops-ml monitor --fail-on-drift` when the batch drifted (1 means an error).
DRIFT_EXIT_CODE = 3
# What `evaluate` writes: the held-out metrics a model file is compared with.
DEFAULT_METRICS = Path("eval/metrics.json")


def validate_current(table: Table, schema: FeatureSchema) -> pd.DataFrame:
    """Clean and validate a current batch as `prepare` does; labels are optional."""
    frame = clean(table.frame)
    absent = [c for c in schema.features if c not in frame.columns]
    if absent:
        raise DataError(
            f"{table.path}: column(s) {absent} of the model's features are missing; "
            f"its columns are {list(frame.columns)}"
        )
    labelled = schema.target in frame.columns and bool(frame[schema.target].notna().any())
    if not labelled:
        # Production batches usually lack labels; the pipeline's validation requires the
        # target, so stand a valid one in and drop it again afterwards.
        frame = frame.assign(**{schema.target: schema.positive_label})
    # Missingness is a monitored figure here, reported against a threshold, not a reason to stop.
    typed = validate(Table(frame=frame, path=table.path), schema, max_missing=1.0)
    return typed if labelled else typed.drop(columns=[schema.target])


def read_current(path: Path, schema: FeatureSchema) -> pd.DataFrame:
    """Read a current batch (.csv or .parquet) and validate it against the schema."""
    return validate_current(read_table(path, text=[schema.target]), schema)


def read_reference(path: Path, schema: FeatureSchema) -> pd.DataFrame:
    """Read a split written by `prepare` (typed columns) and check it holds the features."""
    frame = read_table(path).frame
    absent = [c for c in schema.features if c not in frame.columns]
    if absent:
        raise DataError(
            f"{path}: column(s) {absent} of the schema are missing; "
            "expected a split written by `gitops-ml prepare`"
        )
    return frame


def read_metrics(path: Path | None) -> dict[str, float] | None:
    """Reference metrics written by `evaluate`, or None when there is no such file."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object of metrics")
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


def run(
    current: Path,
    out_dir: Path,
    params: Params,
    *,
    reference: Path,
    schema_path: Path,
    model: str,
    reference_metrics: Path | None,
) -> MonitorReport:
    """Monitor `current` against `reference`; write monitor.json, monitor.md and monitor.html.

    A registry version is judged by its own numbers: it scores at the threshold it was
    registered with, and its labelled performance is compared with the held-out metrics it
    was registered with, unless `reference_metrics` names a file. A model file scores at
    evaluate.threshold against `reference_metrics` (default eval/metrics.json).
    """
    if not schema_path.is_file():
        raise DataError(f"{schema_path}: schema file not found; run `gitops-ml prepare` first")
    schema = FeatureSchema.read(schema_path)
    ref = read_reference(reference, schema)
    cur = read_current(current, schema)
    scorer = None if model.lower() == "none" else model_source.load_scoring(model)
    threshold, threshold_source = params.evaluate.threshold, "evaluate.threshold"
    if scorer is not None and scorer.threshold is not None:
        threshold, threshold_source = scorer.threshold, f"{model}, as registered"
    metrics: dict[str, float] | None
    if reference_metrics is None and scorer is not None and scorer.metrics:
        metrics, metrics_source = scorer.metrics, f"{model}, as registered"
    else:
        metrics_path = reference_metrics or DEFAULT_METRICS
        metrics, metrics_source = read_metrics(metrics_path), str(metrics_path)
    report = assess(
        ref,
        cur,
        schema,
        params.monitor,
        model=None if scorer is None else scorer.pipeline,
        threshold=threshold,
        reference_metrics=metrics,
    )
    report = replace(
        report,
        sources={
            "current": str(current),
            "reference": str(reference),
            "model": None if scorer is None else model,
            "threshold": None if scorer is None else f"{threshold:g} ({threshold_source})",
            "reference metrics": None if scorer is None or metrics is None else metrics_source,
        },
    )
    # Render everything before writing anything: a failure leaves no partial report behind.
    markdown, html = rendering.markdown(report), rendering.html(report)
    write_json(out_dir / "monitor.json", report.to_dict())
    write_text(out_dir / "monitor.md", markdown)
    write_text(out_dir / "monitor.html", html)
    return report
