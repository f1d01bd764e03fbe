"""The report's own check of the branch's results: the branch's model, loaded through this
code's strict loader, re-scored on the branch's test split by this code's metrics.

A pull request brings its own evaluation code, and in CI its own reproduction; whatever it
writes to eval/ could be bent. Re-scoring the model makes the figures the gate uses this
code's: the metrics are recomputed, the committed predictions must be what the model gives,
and a model holding types this code does not trust fails the gate for a code owner to review.
It also counts the base's held-out rows that the branch trained on (a changed split).

The judge always re-scores; a report on one's own workspace does when asked (`--rescore`): there
the results are the developer's own and `dvc status` says whether they are current, and loading
a model (skops, scikit-learn) costs more than the rest of the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from gitops_ml.core import predictions
from gitops_ml.core.errors import DataError, ModelError
from gitops_ml.core.metric_rules import METRICS
from gitops_ml.core.metrics import metrics_file
from gitops_ml.core.params import EvaluateParams, problems
from gitops_ml.core.schema import ROW_KEY, FeatureSchema
from gitops_ml.review.sides import Side

MODEL = "models/model.skops"
PREPARED = "data/prepared"
TEST, SCHEMA, TRAIN = "test.parquet", "schema.json", "train.parquet"
# The reproduction artifact carries the training split's keys only, not its rows.
TRAIN_KEYS = "train_keys.parquet"
# Scores read back from CSV are exact; this only absorbs a different BLAS summation order.
SCORE_TOLERANCE = 1e-9
# Metrics are written rounded to six digits; a difference below this is rounding.
METRIC_TOLERANCE = 2e-6


@dataclass(frozen=True)
class Rescoring:
    """What re-scoring the branch's model found. `metrics` is None when it could not be done."""

    metrics: dict[str, Any] | None = None
    reported_differences: list[str] = field(default_factory=list)
    problem: str | None = None  # the model or the files could not be re-scored
    refused_model: bool = False  # the problem: this code's loader refuses the model file
    skipped: bool = False  # not asked to re-score (a report on one's own workspace)
    predictions_differ: str | None = None  # how eval/predictions.csv differs from the model's
    trained_on_base_test: int | None = None  # base held-out rows in the branch's training split
    base_test_rows: int = 0
    # What the judge computed from the model's scores, in the branch's files' shapes.
    predictions: pd.DataFrame | None = None
    plots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """True when the model was re-scored."""
        return self.metrics is not None

    def judged(self, branch: Side) -> Side:
        """The branch as the judge scores it: its metrics, predictions and plot data replaced by
        the re-scoring's (feature importance stays the branch's own); unchanged if not done."""
        if self.metrics is None:
            return branch
        return replace(
            branch,
            metrics=self.metrics,
            predictions=self.predictions,
            plots={**branch.plots, **self.plots},
        )

    def to_dict(self) -> dict[str, Any]:
        """As report.json holds it: the findings, not the recomputed files."""
        return {
            "done": self.done,
            "skipped": self.skipped,
            "metrics": self.metrics,
            "reported_differences": self.reported_differences,
            "problem": self.problem,
            "refused_model": self.refused_model,
            "predictions_differ": self.predictions_differ,
            "trained_on_base_test": self.trained_on_base_test,
            "base_test_rows": self.base_test_rows,
        }


# The evaluate settings re-scoring uses; a branch may add others, which the judge ignores.
_EVALUATE_KEYS = ("threshold", "bootstrap", "slices")


def _evaluate_settings(params: Mapping[str, Any] | None) -> tuple[EvaluateParams, int]:
    """The branch's evaluate settings and seed, read as data and checked by the same model as
    params.yaml; ValueError naming the key when one is not valid."""
    raw = (params or {}).get("evaluate") or {}
    if not isinstance(raw, Mapping):
        raise ValueError("evaluate: expected a mapping")
    try:
        settings = EvaluateParams.model_validate({k: raw[k] for k in _EVALUATE_KEYS if k in raw})
    except ValidationError as exc:
        raise ValueError(problems(exc, "evaluate")[0]) from None
    seed = (params or {}).get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed {seed} is negative")
    return settings, seed


def metric_differences(reported: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[str]:
    """Metrics whose reported value is not the recomputed one, as 'name: reported → recomputed'."""
    found = []
    for name in [*METRICS, "n_test", "positive_rate"]:
        old, new = reported.get(name), recomputed.get(name)
        if old is None and new is None:
            continue
        if not (
            isinstance(old, int | float)
            and isinstance(new, int | float)
            and abs(old - new) <= METRIC_TOLERANCE
        ):
            found.append(f"{name}: {old} → {new}")
    return found


def predictions_difference(expected: pd.DataFrame, reported: pd.DataFrame | None) -> str | None:
    """How reported predictions differ from those the model gives (None when they agree)."""
    if reported is None:
        return "eval/predictions.csv is missing"
    key = predictions.KEY
    missing = len(set(expected[key]) - set(reported[key]))
    extra = len(set(reported[key]) - set(expected[key]))
    if missing or extra:
        return (
            f"eval/predictions.csv holds {extra:,} rows the test split's sample does not and "
            f"lacks {missing:,} it does"
        )
    joined = expected.merge(reported, on=key, suffixes=("", "_reported"), validate="1:1")
    differ = ~np.isclose(
        joined[predictions.SCORE].to_numpy(dtype=float),
        pd.to_numeric(joined[f"{predictions.SCORE}_reported"], errors="coerce").to_numpy(),
        rtol=0,
        atol=SCORE_TOLERANCE,
    )
    differ |= (
        joined[predictions.LABEL].to_numpy()
        != pd.to_numeric(joined[f"{predictions.LABEL}_reported"], errors="coerce").to_numpy()
    )
    for col in expected.columns:
        if col.startswith(predictions.SLICE_PREFIX):
            theirs = f"{col}_reported"
            if theirs not in joined.columns:
                return f"eval/predictions.csv lacks the column {col!r}"
            differ |= joined[col].to_numpy() != joined[theirs].astype("string").to_numpy()
    count = int(differ.sum())
    if count:
        return f"{count:,} of its {len(expected):,} rows differ from what the model gives"
    return None


def trained_on(base: pd.DataFrame | None, train_keys: pd.Series | None) -> int | None:
    """How many of the base's held-out rows are in the branch's training split."""
    if base is None or train_keys is None:
        return None
    return int(base[predictions.KEY].isin(set(train_keys.astype("string"))).sum())


def read_train_keys(prepared: Path) -> pd.Series | None:
    """The training split's row keys: from train_keys.parquet (an artifact) or train.parquet."""
    for name in (TRAIN_KEYS, TRAIN):
        path = prepared / name
        if path.is_file():
            try:
                return pd.read_parquet(path, columns=[ROW_KEY])[ROW_KEY]
            except (OSError, ValueError, KeyError):
                return None
    return None


def rescore(
    root: Path,
    params: Mapping[str, Any] | None,
    reported_metrics: Mapping[str, Any],
    reported_predictions: pd.DataFrame | None,
    base_predictions: pd.DataFrame | None = None,
    *,
    model: bool = True,
) -> Rescoring:
    """Re-score the model under `root` (models/, data/prepared/) as this code's evaluate would;
    with `model` False only count the base's held-out rows the branch trained on."""
    prepared = root / PREPARED
    leaked = trained_on(base_predictions, read_train_keys(prepared))
    base_rows = 0 if base_predictions is None else len(base_predictions)

    def found(**what: Any) -> Rescoring:
        return Rescoring(trained_on_base_test=leaked, base_test_rows=base_rows, **what)

    if not model:
        return found(skipped=True)
    # Here, not above: a report that does not re-score never imports scikit-learn or skops.
    from gitops_ml.core.curves import plot_data
    from gitops_ml.core.model import scored_split
    from gitops_ml.infra.model_files import load_model

    try:
        settings, seed = _evaluate_settings(params)
    except ValueError as exc:
        return found(problem=f"its params.yaml's evaluate settings or seed are not valid: {exc}")
    if not (root / MODEL).is_file():
        return found(problem=f"{MODEL} is not among the branch's files")
    try:
        pipeline = load_model(root / MODEL)
    except ModelError as exc:
        return found(problem=str(exc), refused_model=True)
    try:
        schema = FeatureSchema.read(prepared / SCHEMA)
        test = pd.read_parquet(prepared / TEST)
        # Anything may go wrong scoring a pull request's model on its own files: say what.
        y, proba = scored_split(pipeline, test, schema)
        held_out = predictions.table(test[ROW_KEY], y, proba, test[settings.slices])
    except (DataError, OSError) as exc:
        return found(problem=str(exc))
    except Exception as exc:  # reported, and the gate fails on it
        problem = f"the model does not score its test split: {type(exc).__name__}: {exc}"
        return found(problem=problem)
    recomputed = metrics_file(y, proba, settings.threshold, settings.bootstrap, seed)
    sampled = predictions.sample(held_out)
    return found(
        metrics=recomputed,
        reported_differences=metric_differences(reported_metrics, recomputed),
        predictions_differ=predictions_difference(sampled, reported_predictions),
        predictions=sampled,
        plots=plot_data(y, proba, settings.threshold, schema),
    )
