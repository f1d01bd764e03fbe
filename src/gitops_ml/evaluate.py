"""The evaluate stage: metrics with bootstrap errors, curves, confusion, feature importance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gitops_ml.metric_names import METRICS
from gitops_ml.params import EvaluateParams, Params
from gitops_ml.schema import FeatureSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Metrics computed on predicted probabilities, and on labels at the decision threshold.
SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")
LABEL_METRICS = ("f1", "precision", "recall", "accuracy")
CURVE_POINTS = 200
DIGITS = 6
# Caps that keep evaluation's cost flat beyond a few hundred thousand test rows. Test sets up
# to each cap are used whole, so results on small data do not depend on them. Above a cap, a
# seeded subsample stands in: bootstrap errors are computed on BOOTSTRAP_MAX_ROWS rows and
# rescaled to the full size (standard errors shrink as 1/sqrt(n)); permutation importance is
# measured on IMPORTANCE_MAX_ROWS rows; the confusion plot data holds CONFUSION_MAX_ROWS records
# in the exact proportions of the four cells (exact counts are tp/fp/tn/fn in metrics.json).
BOOTSTRAP_MAX_ROWS = 50_000
IMPORTANCE_MAX_ROWS = 10_000
CONFUSION_MAX_ROWS = 10_000
# Rows scored per predict_proba call: bounds the preprocessed copy of the test set in memory.
PREDICT_CHUNK_ROWS = 250_000

Metric = Callable[[np.ndarray, np.ndarray], float]


def _metric_functions() -> dict[str, Metric]:
    from sklearn import metrics as m

    return {
        "roc_auc": m.roc_auc_score,
        "average_precision": m.average_precision_score,
        "log_loss": lambda y, p: m.log_loss(y, p, labels=[0, 1]),
        "brier": m.brier_score_loss,
        "f1": lambda y, yhat: m.f1_score(y, yhat, zero_division=0),
        "precision": lambda y, yhat: m.precision_score(y, yhat, zero_division=0),
        "recall": lambda y, yhat: m.recall_score(y, yhat, zero_division=0),
        "accuracy": m.accuracy_score,
    }


def score(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of METRICS for true labels `y` (0/1) and positive-class probabilities."""
    functions = _metric_functions()
    labels = (proba >= threshold).astype(np.int8)
    out = {name: float(functions[name](y, proba)) for name in SCORE_METRICS}
    out.update({name: float(functions[name](y, labels)) for name in LABEL_METRICS})
    return out


def bootstrap_se(
    y: np.ndarray, proba: np.ndarray, threshold: float, resamples: int, seed: int
) -> dict[str, float]:
    """Standard error of each metric over `resamples` bootstrap resamples of the test set.

    Above BOOTSTRAP_MAX_ROWS rows, resamples of a seeded subsample of that size are scored and
    the errors rescaled by sqrt(subsample / n), the 1/sqrt(n) law of standard errors.
    """
    import sklearn

    n = len(y)
    factor = 1.0
    if n > BOOTSTRAP_MAX_ROWS:
        keep = subsample(n, BOOTSTRAP_MAX_ROWS, seed)
        y, proba = y[keep], proba[keep]
        factor = float(np.sqrt(BOOTSTRAP_MAX_ROWS / n))
    rng = np.random.default_rng(seed)
    rows = []
    # The resamples are valid inputs by construction; sklearn's per-call checks dominate cost.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        for _ in range(resamples):
            idx = rng.integers(0, len(y), len(y))
            if y[idx].min() == y[idx].max():
                continue
            rows.append(score(y[idx], proba[idx], threshold))
    table = pd.DataFrame(rows, columns=list(METRICS))
    return {name: float(table[name].std(ddof=1)) * factor for name in METRICS}


def subsample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of `size` of `n` rows, drawn without replacement (all when n ≤ size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def predict_positive(pipeline: Pipeline, x: pd.DataFrame) -> np.ndarray:
    """Positive-class probabilities, scored in chunks so preprocessing copies stay small."""
    if len(x) <= PREDICT_CHUNK_ROWS:
        return np.asarray(pipeline.predict_proba(x)[:, 1])
    return np.concatenate(
        [
            pipeline.predict_proba(x.iloc[start : start + PREDICT_CHUNK_ROWS])[:, 1]
            for start in range(0, len(x), PREDICT_CHUNK_ROWS)
        ]
    )


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int))


def roc_points(y: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """ROC curve, thinned to at most CURVE_POINTS points."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, proba, drop_intermediate=True)
    keep = _thin(len(fpr))
    return [{"fpr": _r(fpr[i]), "tpr": _r(tpr[i]), "threshold": _r(min(thr[i], 1.0))} for i in keep]


def pr_points(y: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """Precision-recall curve, thinned to at most CURVE_POINTS points."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, proba, drop_intermediate=True)
    keep = _thin(len(precision))
    return [{"recall": _r(recall[i]), "precision": _r(precision[i])} for i in keep]


def calibration_points(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed positive rate against mean predicted probability, in quantile bins."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    return [
        {"predicted": _r(p), "observed": _r(o)} for p, o in zip(predicted, observed, strict=True)
    ]


def confusion_rows(
    y: np.ndarray, proba: np.ndarray, threshold: float, schema: FeatureSchema
) -> list[dict[str, str]]:
    """One {actual, predicted} row per test record, in the labels of the data.

    Above CONFUSION_MAX_ROWS records, CONFUSION_MAX_ROWS rows in the proportions of the four
    cells (largest remainders), grouped by cell: DVC's confusion template needs one row per
    record, and millions of them would bloat a committed file.
    """
    names = np.array([schema.negative_label, schema.positive_label])
    if len(y) > CONFUSION_MAX_ROWS:
        return _scaled_confusion(y, proba >= threshold, names)
    predicted = names[(proba >= threshold).astype(int)]
    return [
        {"actual": a, "predicted": p}
        for a, p in zip(names[y].tolist(), predicted.tolist(), strict=True)
    ]


def _scaled_confusion(y: np.ndarray, labels: np.ndarray, names: np.ndarray) -> list[dict[str, str]]:
    cells = [(a, p) for a in (0, 1) for p in (0, 1)]
    counts = np.array([int(((y == a) & (labels == bool(p))).sum()) for a, p in cells])
    exact = counts * CONFUSION_MAX_ROWS / counts.sum()
    scaled = np.floor(exact).astype(int)
    short = CONFUSION_MAX_ROWS - int(scaled.sum())
    scaled[np.argsort(-(exact - scaled), kind="stable")[:short]] += 1
    return [
        {"actual": str(names[a]), "predicted": str(names[p])}
        for (a, p), k in zip(cells, scaled.tolist(), strict=True)
        for _ in range(k)
    ]


def confusion_counts(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, int]:
    """True/false positives and negatives at the threshold."""
    labels = proba >= threshold
    positive = y == 1
    return {
        "tp": int((labels & positive).sum()),
        "fp": int((labels & ~positive).sum()),
        "tn": int((~labels & ~positive).sum()),
        "fn": int((~labels & positive).sum()),
    }


def importance(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, top: int, seed: int
) -> list[dict[str, Any]]:
    """Permutation importance of each input column (drop in ROC AUC), the `top` largest.

    Measured on a seeded subsample of IMPORTANCE_MAX_ROWS rows when the test set is larger.
    """
    from sklearn.inspection import permutation_importance
    from threadpoolctl import threadpool_limits

    if len(x) > IMPORTANCE_MAX_ROWS:
        keep = subsample(len(x), IMPORTANCE_MAX_ROWS, seed)
        x, y = x.iloc[keep], y[keep]

    # Hundreds of small predictions: one thread each is faster than OpenMP's start-up and
    # spinning, and collapses far less when the machine is busy.
    with threadpool_limits(limits=1):
        result = permutation_importance(
            pipeline, x, y, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
        )
    table = pd.DataFrame(
        {"feature": x.columns, "importance": result.importances_mean, "std": result.importances_std}
    ).sort_values(["importance", "feature"], ascending=[False, True])
    return [
        {"feature": str(feature), "importance": _r(mean), "std": _r(std)}
        for feature, mean, std in table.head(top).itertuples(index=False)
    ]


def _r(value: float) -> float:
    return round(float(value), DIGITS)


@dataclass(frozen=True)
class Evaluation:
    """Everything the evaluate stage computes, ready to write."""

    metrics: dict[str, float]
    plots: dict[str, list[dict[str, Any]]]


def evaluate(
    pipeline: Pipeline, test: pd.DataFrame, schema: FeatureSchema, params: EvaluateParams, seed: int
) -> Evaluation:
    """Score the model on the test split: metrics with errors, and the data of every plot."""
    x = test[schema.features]
    y = test[schema.target].to_numpy(dtype=np.int8)
    proba = predict_positive(pipeline, x)
    point = score(y, proba, params.threshold)
    errors = bootstrap_se(y, proba, params.threshold, params.bootstrap, seed)
    metrics: dict[str, float] = {}
    for name in METRICS:
        metrics[name] = _r(point[name])
        metrics[f"{name}_se"] = _r(errors[name])
    counts = confusion_counts(y, proba, params.threshold)
    metrics.update({"n_test": len(y), "positive_rate": _r(y.mean()), **counts})
    plots: dict[str, list[dict[str, Any]]] = {
        "roc": roc_points(y, proba),
        "prc": pr_points(y, proba),
        "calibration": calibration_points(y, proba),
        "confusion": confusion_rows(y, proba, params.threshold, schema),
        "importance": importance(pipeline, x, y, params.top_features, seed),
    }
    return Evaluation(metrics=metrics, plots=plots)


def run(prepared: Path, model_path: Path, out_dir: Path, params: Params) -> Evaluation:
    """Evaluate the model on `prepared/test.parquet`; write metrics, plot data and figures."""
    from gitops_ml import figures, tracking
    from gitops_ml.files import write_json
    from gitops_ml.train import load_model

    schema = FeatureSchema.read(prepared / "schema.json")
    test = pd.read_parquet(prepared / "test.parquet")
    result = evaluate(load_model(model_path), test, schema, params.evaluate, params.seed)
    for name, points in result.plots.items():
        write_json(out_dir / "plots" / f"{name}.json", points)
    pngs = figures.render_all(result.plots, out_dir / "figures")
    write_json(out_dir / "metrics.json", result.metrics)
    tracking.log_evaluation(
        model_path=model_path, metrics=result.metrics, figures=pngs, settings=params.mlflow
    )
    return result
