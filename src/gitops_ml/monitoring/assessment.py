"""The pure core of monitoring: compare a typed current batch with the training reference.

Checks, with thresholds from the `monitor` section of params.yaml:
- feature drift: PSI plus KS (numeric) or chi-squared (categorical), p-values corrected with
  Benjamini-Hochberg across features; a feature drifts when its corrected test is significant
  and its PSI reaches the threshold;
- prediction drift: the model's score distribution, reference against current;
- data quality: missing rates, categories unseen in training, values outside the training range;
- performance, when the batch has labels: the reference metrics against the batch's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gitops_ml.core.metric_rules import improvement
from gitops_ml.core.metrics import score
from gitops_ml.core.model import features, positive_proba
from gitops_ml.core.params import MonitorParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.monitoring import drift
from gitops_ml.monitoring.results import (
    FeatureResult,
    Finding,
    MonitorReport,
    PerformanceResult,
    PredictionResult,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

NEW_LABELS_SHOWN = 5


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
    metrics = {k: round(v, 6) for k, v in score(y, scores, threshold).items()}
    name = settings.performance_metric
    current = metrics[name]
    reference = None if reference_metrics is None else reference_metrics.get(name)
    worse_by = None
    if reference is not None:
        worse_by = -improvement(name, current, reference)
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
    results: list[FeatureResult],
    prediction: PredictionResult | None,
    performance: PerformanceResult | None,
    settings: MonitorParams,
) -> list[Finding]:
    """Every threshold crossed, as sentences a reader of the issue can act on."""
    out: list[Finding] = []
    for r in results:
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
    results = compare_features(reference, current, schema, settings)
    prediction = performance = None
    if model is None:
        notes.append("No model given: prediction drift and performance were not checked.")
    else:
        ref_scores = positive_proba(model, features(reference, schema))
        cur_scores = positive_proba(model, features(current, schema))
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
        features=results,
        prediction=prediction,
        performance=performance,
        findings=findings(results, prediction, performance, settings),
        notes=notes,
        thresholds=settings.model_dump(),
    )
