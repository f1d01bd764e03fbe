"""Pairing both sides' held-out predictions: on the rows both held out, overall and per slice;
unpaired, saying why, when too few rows are shared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core import predictions
from gitops_ml.core.params import GatesParams
from gitops_ml.review import verdict
from gitops_ml.review.pairing import MIN_ROWS, Pairs, pair
from gitops_ml.review.reproducibility import Reproducibility
from gitops_ml.review.sides import RawData, Side

from .sample import LOCK
from .sample import metrics_with_se as _metrics


def _held_out(
    n: int, seed: int, keys: list[str] | None = None, region: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    score = 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=n) - 1)))
    slices = None if region is None else pd.DataFrame({"region": region})
    index = keys if keys is not None else [f"r{i:05d}" for i in range(n)]
    return predictions.table(pd.Series(index), y, score, slices), y


def _rescored(frame: pd.DataFrame, seed: int, noise: float = 0.05) -> pd.DataFrame:
    """The same rows, scored by a slightly different model."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out[predictions.SCORE] = np.clip(out[predictions.SCORE] + rng.normal(0, noise, len(out)), 0, 1)
    return out


def _pair(base: pd.DataFrame | None, branch: pd.DataFrame | None) -> Pairs:
    return pair(base, branch, base_threshold=0.5, branch_threshold=0.5, resamples=50, seed=1)


def test_the_same_rows_are_paired_and_the_same_model_does_not_change() -> None:
    """Both sides held out the same rows: every row is paired; a model against itself differs
    by exactly nothing, with no noise."""
    base, _ = _held_out(800, seed=0)
    same = _pair(base, base)
    assert same.pairing.method == "paired"
    assert (same.pairing.rows, same.pairing.only_base, same.pairing.only_branch) == (800, 0, 0)
    assert same.overall is not None
    auc = same.overall.on("roc_auc")
    assert (auc.delta, auc.se) == (0.0, 0.0)
    other = _pair(base, _rescored(base, seed=3)).overall
    assert other is not None
    assert other.on("roc_auc").se > 0


def test_a_changed_split_pairs_the_rows_both_held_out_and_counts_the_rest() -> None:
    """Rows held out by one side only, or relabelled, are left out and counted."""
    base, _ = _held_out(1000, seed=0)
    branch = _rescored(base.iloc[200:].copy(), seed=4)  # 200 rows went to training
    extra, _ = _held_out(150, seed=9, keys=[f"new{i}" for i in range(150)])
    branch = pd.concat([branch, extra], ignore_index=True)
    label = predictions.LABEL
    flipped = branch[predictions.KEY] == "r00500"
    branch.loc[flipped, label] = 1 - branch.loc[flipped, label]
    found = _pair(base, branch).pairing
    assert found.method == "paired"
    assert (found.rows, found.only_base, found.only_branch, found.label_changed) == (
        799,
        200,
        150,
        1,
    )


@pytest.mark.parametrize(
    ("base_rows", "reason"),
    [
        (None, "the base has no eval/predictions.csv"),
        (MIN_ROWS - 1, f"only {MIN_ROWS - 1} test rows held out by both sides"),
    ],
)
def test_too_little_in_common_falls_back_to_the_unpaired_band(
    base_rows: int | None, reason: str
) -> None:
    """Without the base's predictions, or with too few shared rows, the comparison is unpaired
    and says why."""
    branch, _ = _held_out(1000, seed=0)
    base = None if base_rows is None else branch.head(base_rows)
    found = _pair(base, branch)
    assert found.pairing.method == "unpaired"
    assert found.pairing.reason.startswith(reason)
    assert found.overall is None


def _side(sha: str, held_out: pd.DataFrame, metrics: dict[str, float], gates: dict) -> Side:  # type: ignore[type-arg]
    params = {"data": {"raw": "raw.csv"}, "evaluate": {"threshold": 0.5}, "gates": gates}
    return Side(sha=sha, metrics=metrics, params=params, lock=LOCK, predictions=held_out)


def test_a_slice_worse_beyond_its_limit_fails_while_the_whole_improves() -> None:
    """The branch is better overall but much worse on one region: slice_max_drop fails it."""
    n = 2400
    region = ["north"] * 1200 + ["south"] * 1200
    base, _ = _held_out(n, seed=5, region=region)
    branch = base.copy()
    rng = np.random.default_rng(6)
    north = (branch["slice:region"] == "north").to_numpy()
    score = branch[predictions.SCORE].to_numpy().copy()
    labels = branch[predictions.LABEL].to_numpy()
    # Sharper in the north (better), noise in the south (worse), better on the whole.
    score[north] = np.clip(score[north] + np.where(labels[north] == 1, 0.15, -0.15), 0, 1)
    score[~north] = np.clip(score[~north] + rng.normal(0, 0.25, (~north).sum()), 0, 1)
    branch[predictions.SCORE] = score
    gates = {"slice_max_drop": {"roc_auc": 0.02}, "max_drop": {"roc_auc": 0.02}}
    report = verdict.build(
        _side("a" * 40, base, _metrics(roc_auc=0.80), gates),
        _side("b" * 40, branch, _metrics(roc_auc=0.81), gates),
        base_rev="main",
        branch_gates=GatesParams(),
        branch_data=RawData("raw.csv", "r1", 10),
        repro=Reproducibility([], [], True, []),
    )
    overall = next(c for c in report.metrics if c.metric == "roc_auc")
    assert overall.direction == 1
    south = next(c for c in report.slices if c.subject == "region=south")
    assert south.direction == -1
    assert report.passed is False
    assert report.failures == [
        next(c.detail for c in report.gate.checks if c.rule == "slice_max_drop" and not c.passed)
    ]
    assert report.failures[0].startswith("roc_auc in region=south worsened by")
