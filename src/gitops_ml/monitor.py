"""Monitoring: compare a batch of current data with the training reference and say what drifted.

Checks, with thresholds from the `monitor` section of params.yaml:
- feature drift: PSI plus KS (numeric) or chi-squared (categorical), p-values corrected with
  Benjamini-Hochberg across features; a feature drifts when its corrected test is significant
  and its PSI reaches the threshold;
- prediction drift: the model's score distribution, reference against current;
- data quality: missing rates, categories unseen in training, values outside the training range
  (schema violations stop the run with the pipeline's own error);
- performance, when the batch has labels: the reference metrics against the batch's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gitops_ml import drift
from gitops_ml.errors import DataError, UserError
from gitops_ml.params import MonitorParams, Params
from gitops_ml.schema import FeatureSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gitops_ml.data import Table

# Exit code of `gitops-ml monitor --fail-on-drift` when the batch drifted (1 means an error).
DRIFT_EXIT_CODE = 3
NEW_LABELS_SHOWN = 5


@dataclass(frozen=True)
class FeatureResult:
    """Drift statistics and data-quality figures of one feature."""

    feature: str
    kind: str
    psi: float | None
    test: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    drifted: bool
    missing_reference: float
    missing_current: float
    new_categories: dict[str, int] = field(default_factory=dict)
    new_category_share: float = 0.0
    out_of_range_share: float = 0.0
    distribution: drift.Distribution | None = None


@dataclass(frozen=True)
class PredictionResult:
    """The model's score distribution, reference against current."""

    psi: float
    statistic: float
    p_value: float
    drifted: bool
    mean_reference: float
    mean_current: float
    distribution: drift.Distribution


@dataclass(frozen=True)
class PerformanceResult:
    """The batch's metrics (it has labels) against the reference metrics."""

    metric: str
    reference: float | None
    current: float
    worse_by: float | None
    degraded: bool
    metrics: dict[str, float]
    n_labelled: int


@dataclass(frozen=True)
class Finding:
    """One reason to alert a human: its kind, what it concerns, and a sentence saying it."""

    kind: str
    subject: str
    message: str


@dataclass(frozen=True)
class MonitorReport:
    """Everything `monitor` found about one batch."""

    n_reference: int
    n_current: int
    features: list[FeatureResult]
    prediction: PredictionResult | None
    performance: PerformanceResult | None
    findings: list[Finding]
    notes: list[str]
    thresholds: dict[str, Any]
    sources: dict[str, str | None] = field(default_factory=dict)

    @property
    def drift_detected(self) -> bool:
        """Whether anything in the batch needs a human's attention."""
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (distributions left out: the HTML draws them)."""
        features = []
        for result in self.features:
            row = asdict(result)
            row.pop("distribution")
            features.append(row)
        prediction = None
        if self.prediction is not None:
            prediction = asdict(self.prediction)
            prediction.pop("distribution")
        return {
            "drift_detected": self.drift_detected,
            "findings": [asdict(f) for f in self.findings],
            "summary": {
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "features_tested": sum(r.p_value is not None for r in self.features),
                "features_drifted": [r.feature for r in self.features if r.drifted],
                "prediction_drift": bool(self.prediction and self.prediction.drifted),
                "performance_degraded": bool(self.performance and self.performance.degraded),
            },
            "features": features,
            "prediction": prediction,
            "performance": None if self.performance is None else asdict(self.performance),
            "notes": self.notes,
            "thresholds": self.thresholds,
            "sources": self.sources,
        }


def _missing(series: pd.Series) -> float:
    return float(series.isna().mean()) if len(series) else 0.0


def compare_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: FeatureSchema,
    settings: MonitorParams,
) -> list[FeatureResult]:
    """Drift statistics and quality figures of every feature, p-values corrected together."""
    compared: dict[str, drift.Comparison] = {}
    for col in schema.features:
        if reference[col].notna().any() and current[col].notna().any():
            if col in schema.numeric:
                compared[col] = drift.compare_numeric(reference[col], current[col], settings.bins)
            else:
                compared[col] = drift.compare_categorical(reference[col], current[col])
    adjusted = dict(
        zip(compared, drift.adjust([c.p_value for c in compared.values()]), strict=True)
    )
    results = []
    for col in schema.features:
        found = compared.get(col)
        p_adj = adjusted.get(col)
        drifted = bool(
            found is not None
            and p_adj is not None
            and p_adj < settings.alpha
            and found.psi >= settings.psi_threshold
        )
        results.append(
            FeatureResult(
                feature=col,
                kind="numeric" if col in schema.numeric else "categorical",
                psi=None if found is None else found.psi,
                test="ks" if col in schema.numeric else "chi2",
                statistic=None if found is None else found.statistic,
                p_value=None if found is None else found.p_value,
                p_adjusted=p_adj,
                drifted=drifted,
                missing_reference=_missing(reference[col]),
                missing_current=_missing(current[col]),
                **_quality(current[col], col, schema),
                distribution=None if found is None else found.distribution,
            )
        )
    return results


def _quality(series: pd.Series, col: str, schema: FeatureSchema) -> dict[str, Any]:
    present = series.dropna()
    if present.empty:
        return {}
    if col in schema.categorical:
        known = set(schema.categories.get(col, []))
        counts = drift.value_counts(present)
        unseen = counts[~counts.index.isin(known)]
        return {
            "new_categories": {str(k): int(v) for k, v in unseen.items()},
            "new_category_share": float(unseen.sum() / len(present)),
        }
    if col in schema.ranges:
        low, high = schema.ranges[col]
        outside = (present < low) | (present > high)
        return {"out_of_range_share": float(outside.mean())}
    return {}


def compare_predictions(
    reference: np.ndarray, current: np.ndarray, settings: MonitorParams
) -> PredictionResult:
    """Drift of the model's scores: PSI over reference quantile bins and the KS test."""
    comparison = drift.compare_numeric(pd.Series(reference), pd.Series(current), settings.bins)
    return PredictionResult(
        psi=comparison.psi,
        statistic=comparison.statistic,
        p_value=comparison.p_value,
        drifted=comparison.p_value < settings.alpha and comparison.psi >= settings.psi_threshold,
        mean_reference=float(reference.mean()),
        mean_current=float(current.mean()),
        distribution=comparison.distribution,
    )


def compare_performance(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    reference_metrics: dict[str, float] | None,
    settings: MonitorParams,
) -> PerformanceResult:
    """The batch's metrics and how far the chosen one fell behind the reference."""
    from gitops_ml.evaluate import score
    from gitops_ml.metric_names import LOWER_IS_BETTER

    metrics = {k: round(v, 6) for k, v in score(y, scores, threshold).items()}
    name = settings.performance_metric
    current = metrics[name]
    reference = None if reference_metrics is None else reference_metrics.get(name)
    worse_by = None
    if reference is not None:
        worse_by = current - reference if name in LOWER_IS_BETTER else reference - current
    return PerformanceResult(
        metric=name,
        reference=reference,
        current=current,
        worse_by=None if worse_by is None else round(worse_by, 6),
        degraded=worse_by is not None and worse_by > settings.max_performance_drop,
        metrics=metrics,
        n_labelled=len(y),
    )


def findings(
    features: list[FeatureResult],
    prediction: PredictionResult | None,
    performance: PerformanceResult | None,
    settings: MonitorParams,
) -> list[Finding]:
    """Every threshold crossed, as sentences a reader of the issue can act on."""
    out: list[Finding] = []
    for r in features:
        if r.drifted:
            out.append(
                Finding(
                    "drift",
                    r.feature,
                    f"{r.feature}: distribution shifted (PSI {r.psi:.3f}, "
                    f"{r.test} p={r.p_adjusted:.2g} after correction)",
                )
            )
        if r.missing_current - r.missing_reference > settings.max_missing_increase:
            out.append(
                Finding(
                    "missing",
                    r.feature,
                    f"{r.feature}: missing rate {r.missing_reference:.1%} in the reference, "
                    f"{r.missing_current:.1%} now",
                )
            )
        if r.new_category_share > settings.max_new_category_share:
            shown = sorted(r.new_categories.items(), key=lambda kv: (-kv[1], kv[0]))
            labels = ", ".join(f"{k!r} ({v})" for k, v in shown[:NEW_LABELS_SHOWN])
            out.append(
                Finding(
                    "new_category",
                    r.feature,
                    f"{r.feature}: {r.new_category_share:.1%} of values are categories "
                    f"unseen in training: {labels}",
                )
            )
        if r.out_of_range_share > settings.max_out_of_range_share:
            out.append(
                Finding(
                    "out_of_range",
                    r.feature,
                    f"{r.feature}: {r.out_of_range_share:.1%} of values are outside "
                    "the training range",
                )
            )
    if prediction is not None and prediction.drifted:
        out.append(
            Finding(
                "prediction_drift",
                "prediction",
                f"prediction: model scores shifted (PSI {prediction.psi:.3f}, "
                f"KS p={prediction.p_value:.2g}; "
                f"mean score {prediction.mean_reference:.3f} → {prediction.mean_current:.3f})",
            )
        )
    if performance is not None and performance.degraded:
        out.append(
            Finding(
                "performance",
                performance.metric,
                f"{performance.metric} {performance.reference:.3f} in the reference, "
                f"{performance.current:.3f} on this batch",
            )
        )
    return out


def assess(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: FeatureSchema,
    settings: MonitorParams,
    *,
    model: Pipeline | None = None,
    threshold: float = 0.5,
    reference_metrics: dict[str, float] | None = None,
) -> MonitorReport:
    """Pure core of `monitor`: compare typed reference and current frames; return the report."""
    notes: list[str] = []
    features = compare_features(reference, current, schema, settings)
    prediction = performance = None
    if model is None:
        notes.append("No model given: prediction drift and performance were not checked.")
    else:
        ref_scores = model.predict_proba(reference[schema.features])[:, 1]
        cur_scores = model.predict_proba(current[schema.features])[:, 1]
        prediction = compare_predictions(ref_scores, cur_scores, settings)
        if schema.target not in current.columns:
            notes.append("The batch has no labels: performance was not checked.")
        elif current[schema.target].nunique() < 2:
            notes.append("The batch's labels hold one class only: performance was not checked.")
        else:
            if reference_metrics is None:
                notes.append("No reference metrics: the batch's metrics are not compared.")
            y = current[schema.target].to_numpy(dtype=np.int8)
            performance = compare_performance(y, cur_scores, threshold, reference_metrics, settings)
    return MonitorReport(
        n_reference=len(reference),
        n_current=len(current),
        features=features,
        prediction=prediction,
        performance=performance,
        findings=findings(features, prediction, performance, settings),
        notes=notes,
        thresholds=settings.model_dump(),
    )


# ---- the edges: files, models, outputs ------------------------------------------------------


def validate_current(table: Table, schema: FeatureSchema) -> pd.DataFrame:
    """Clean and validate a current batch as `prepare` does; labels are optional."""
    from gitops_ml.data import Table, clean, validate

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
    from gitops_ml.data import read_table

    return validate_current(read_table(path), schema)


def read_reference(path: Path, schema: FeatureSchema) -> pd.DataFrame:
    """Read a split written by `prepare` (typed columns) and check it holds the features."""
    from gitops_ml.data import read_table

    frame = read_table(path).frame
    absent = [c for c in schema.features if c not in frame.columns]
    if absent:
        raise DataError(
            f"{path}: column(s) {absent} of the schema are missing; "
            "expected a split written by `gitops-ml prepare`"
        )
    return frame


def load_model(uri: str) -> Pipeline | None:
    """A local .skops file or an MLflow model URI (models:/name@alias, runs:/id/model)."""
    if uri.lower() == "none":
        return None
    if ":/" not in uri:
        from gitops_ml.train import load_model as load_local

        return load_local(Path(uri))
    from mlflow.exceptions import MlflowException

    from gitops_ml.tracking import tracking_uri, use_server

    # models:/ URIs resolve through the registry URI, which does not follow set_tracking_uri.
    mlflow = use_server()
    try:
        model: Pipeline = mlflow.sklearn.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise UserError(f"--model {uri}: cannot be loaded from {tracking_uri()}: {exc}") from None
    return model


def read_metrics(path: Path | None) -> dict[str, float] | None:
    """Reference metrics written by `evaluate`, or None when there is no such file."""
    import json

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
    """Monitor `current` against `reference`; write monitor.json, monitor.md and monitor.html."""
    from dataclasses import replace

    from gitops_ml import monitor_report
    from gitops_ml.files import write_json, write_text

    if not schema_path.is_file():
        raise DataError(f"{schema_path}: schema file not found; run `gitops-ml prepare` first")
    schema = FeatureSchema.read(schema_path)
    ref = read_reference(reference, schema)
    cur = read_current(current, schema)
    report = assess(
        ref,
        cur,
        schema,
        params.monitor,
        model=load_model(model),
        threshold=params.evaluate.threshold,
        reference_metrics=read_metrics(reference_metrics),
    )
    report = replace(
        report,
        sources={
            "current": str(current),
            "reference": str(reference),
            "model": None if model.lower() == "none" else model,
        },
    )
    # Render everything before writing anything: a failure leaves no partial report behind.
    markdown, html = monitor_report.markdown(report), monitor_report.html(report)
    write_json(out_dir / "monitor.json", report.to_dict())
    write_text(out_dir / "monitor.md", markdown)
    write_text(out_dir / "monitor.html", html)
    return report
