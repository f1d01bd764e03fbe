"""What monitoring finds about one batch, as typed results: per feature, the model's scores,
performance when labels exist, and the findings that call for a human.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gitops_ml.monitoring.drift import Distribution


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
    distribution: Distribution | None = None


@dataclass(frozen=True)
class PredictionResult:
    """The model's score distribution, reference against current."""

    psi: float
    statistic: float
    p_value: float
    drifted: bool
    mean_reference: float
    mean_current: float
    distribution: Distribution


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
