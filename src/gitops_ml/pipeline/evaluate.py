"""The evaluate stage's first command: metrics with bootstrap errors, per-slice metrics, the
held-out predictions, and the plot data of curves, confusion and feature importance.

The stage's next commands, `plot` and `track` (pipeline/plot.py, pipeline/track.py), draw the
figures and log the model with its metrics to MLflow, each in a process of its own: this one
loads neither matplotlib nor MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from gitops_ml.core import predictions
from gitops_ml.core.curves import plot_data
from gitops_ml.core.encoding import numpy_encoded
from gitops_ml.core.errors import ParamsError
from gitops_ml.core.metrics import metrics_file, rounded, scores, subsample
from gitops_ml.core.model import features, scored_split
from gitops_ml.core.params import EvaluateParams, Params
from gitops_ml.core.permuted_trees import reusing_trees
from gitops_ml.core.schema import ROW_KEY, FeatureSchema
from gitops_ml.infra.files import write_json, write_text
from gitops_ml.infra.model_files import load_model

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Keeps evaluation's cost flat beyond a few hundred thousand test rows (the bootstrap's own cap
# is core.metrics.BOOTSTRAP_MAX_ROWS, the confusion plot data's core.curves.CONFUSION_MAX_ROWS).
# Test sets up to the cap are used whole, so results on small data do not depend on it; above
# it, permutation importance is measured on a seeded subsample of IMPORTANCE_MAX_ROWS rows.
IMPORTANCE_MAX_ROWS = 10_000


def importance(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, top: int, seed: int
) -> list[dict[str, Any]]:
    """Permutation importance of each input column (drop in ROC AUC), the `top` largest.

    Measured on a seeded subsample of IMPORTANCE_MAX_ROWS rows when the test set is larger.
    The pipeline's preprocessing is redone in numpy when that gives the same matrix bit for bit
    (`core.encoding.numpy_encoded`), and a gradient-boosting model walks again only the trees
    a shuffled feature reaches (`core.permuted_trees`): the same values, in a third of the time.
    """
    if len(x) > IMPORTANCE_MAX_ROWS:
        keep = subsample(len(x), IMPORTANCE_MAX_ROWS, seed)
        x, y = x.iloc[keep], y[keep]
    scored = reusing_trees(numpy_encoded(pipeline, schema, x), x)

    # Hundreds of small predictions: one thread each is faster than OpenMP's start-up and
    # spinning, and collapses far less when the machine is busy.
    with threadpool_limits(limits=1):
        result = permutation_importance(
            scored, x, y, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
        )
    table = pd.DataFrame(
        {"feature": x.columns, "importance": result.importances_mean, "std": result.importances_std}
    ).sort_values(["importance", "feature"], ascending=[False, True])
    return [
        {"feature": str(feature), "importance": rounded(mean), "std": rounded(std)}
        for feature, mean, std in table.head(top).itertuples(index=False)
    ]


def slice_metrics(
    held_out: pd.DataFrame, params: EvaluateParams, seed: int
) -> dict[str, dict[str, float]]:
    """Metrics with errors of every slice that has enough rows of each class, by `column=value`."""
    y = held_out[predictions.LABEL].to_numpy(dtype=np.int8)
    proba = held_out[predictions.SCORE].to_numpy()
    out: dict[str, dict[str, float]] = {}
    for found in predictions.slices(held_out, y):
        rows = found.rows
        found_scores = scores(y[rows], proba[rows], params.threshold, params.bootstrap, seed)
        out[found.name] = {"n": int(rows.sum()), **found_scores.flat()}
    return out


def _slice_columns(schema: FeatureSchema, params: EvaluateParams) -> list[str]:
    unknown = [c for c in params.slices if c not in schema.categorical]
    if unknown:
        raise ParamsError(
            f"evaluate.slices: {unknown} are not categorical features; "
            f"expected some of {list(schema.categorical)}"
        )
    return list(params.slices)


@dataclass(frozen=True)
class Evaluation:
    """Everything the evaluate stage computes, ready to write."""

    metrics: dict[str, float]
    plots: dict[str, list[dict[str, Any]]]
    predictions: pd.DataFrame
    slices: dict[str, dict[str, float]]


def evaluate(
    pipeline: Pipeline, test: pd.DataFrame, schema: FeatureSchema, params: EvaluateParams, seed: int
) -> Evaluation:
    """Score the model on the test split: metrics with errors, slices, predictions, plot data."""
    y, proba = scored_split(pipeline, test, schema)
    x = features(test, schema)
    metrics = metrics_file(y, proba, params.threshold, params.bootstrap, seed)
    held_out = predictions.table(test[ROW_KEY], y, proba, test[_slice_columns(schema, params)])
    plots: dict[str, list[dict[str, Any]]] = {
        **plot_data(y, proba, params.threshold, schema),
        "importance": importance(pipeline, x, y, schema, params.top_features, seed),
    }
    return Evaluation(
        metrics=metrics,
        plots=plots,
        predictions=predictions.sample(held_out),
        slices=slice_metrics(held_out, params, seed),
    )


def run(prepared: Path, model_path: Path, out_dir: Path, params: Params) -> Evaluation:
    """Evaluate the model on `prepared/test.parquet`; write the metrics, slices, held-out
    predictions and plot data under `out_dir`."""
    schema = FeatureSchema.read(prepared / "schema.json")
    test = pd.read_parquet(prepared / "test.parquet")
    pipeline = load_model(model_path)
    result = evaluate(pipeline, test, schema, params.evaluate, params.seed)
    for name, points in result.plots.items():
        write_json(out_dir / "plots" / f"{name}.json", points)
    write_text(out_dir / "predictions.csv", predictions.to_csv(result.predictions))
    write_json(out_dir / "slices.json", result.slices)
    write_json(out_dir / "metrics.json", result.metrics)
    return result
