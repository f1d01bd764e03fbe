"""The judge's re-scoring of a branch's model, on a reproduced project: honest results agree
exactly; tampered predictions, metrics or model files are caught and said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gitops_ml.core import predictions
from gitops_ml.review import rescoring
from gitops_ml.review.rescoring import MODEL, Rescoring, rescore
from gitops_ml.review.sides import Side

pytestmark = pytest.mark.slow  # a reproduced project


def _read(repo: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    metrics = json.loads((repo / "eval/metrics.json").read_text())
    held_out = predictions.from_csv((repo / "eval/predictions.csv").read_text(), "predictions")
    return params, metrics, held_out


@pytest.fixture(scope="module")
def project(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the reproduced project's files the judge reads."""
    root = tmp_path_factory.mktemp("rescoring")
    for rel in ("params.yaml", "eval", "models", "data/prepared"):
        source = reproduced / rel
        if source.is_dir():
            shutil.copytree(source, root / rel)
        else:
            shutil.copy(source, root / rel)
    return root


def test_honest_results_are_recomputed_exactly(project: Path) -> None:
    """The same code re-scoring the same model finds every figure the evaluate stage wrote."""
    params, metrics, held_out = _read(project)
    found = rescore(project, params, metrics, held_out, base_predictions=held_out)
    assert found.done
    assert found.problem is None
    assert found.reported_differences == []
    assert found.predictions_differ is None
    assert found.metrics == metrics
    pd.testing.assert_frame_equal(found.predictions, held_out, check_dtype=False)
    for name in ("roc", "prc", "calibration", "confusion"):
        plotted = json.loads((project / "eval/plots" / f"{name}.json").read_text())
        assert found.plots[name] == plotted
    # Its own held-out rows: none of them is in its training split.
    assert (found.trained_on_base_test, found.base_test_rows) == (0, len(held_out))


def test_inflated_metrics_and_predictions_are_said_and_replaced(project: Path) -> None:
    """Metrics and predictions written by other evaluation code: both are named, and the judged
    branch carries the judge's figures instead."""
    params, metrics, held_out = _read(project)
    claimed = {**metrics, "roc_auc": 0.99, "n_test": metrics["n_test"] + 1}
    bent = held_out.copy()
    bent.loc[:4, predictions.SCORE] = bent.loc[:4, predictions.LABEL] * 0.98 + 0.01
    found = rescore(project, params, claimed, bent)
    assert found.reported_differences == [
        f"roc_auc: 0.99 → {metrics['roc_auc']}",
        f"n_test: {metrics['n_test'] + 1} → {metrics['n_test']}",
    ]
    changed = int((bent[predictions.SCORE] != held_out[predictions.SCORE]).sum())
    assert changed > 0
    assert found.predictions_differ == (
        f"{changed:,} of its {len(held_out):,} rows differ from what the model gives"
    )
    dropped = rescore(project, params, metrics, held_out.iloc[10:])
    assert dropped.predictions_differ == (
        "eval/predictions.csv holds 0 rows the test split's sample does not and lacks 10 it does"
    )


def test_base_rows_the_branch_trained_on_are_counted(project: Path) -> None:
    """Leakage: base held-out rows whose keys are in the branch's training split."""
    params, metrics, held_out = _read(project)
    train_keys = pd.read_parquet(project / "data/prepared/train.parquet", columns=["_row_key"])
    base = pd.concat(
        [
            held_out,
            held_out.head(7).assign(**{predictions.KEY: train_keys["_row_key"].head(7).to_numpy()}),
        ],
        ignore_index=True,
    )
    found = rescore(project, params, metrics, held_out, base_predictions=base)
    assert (found.trained_on_base_test, found.base_test_rows) == (7, len(held_out) + 7)
    # Counted without the model too: a report that is not asked to re-score still says it.
    counted = rescore(project, params, metrics, held_out, base_predictions=base, model=False)
    assert (counted.trained_on_base_test, counted.skipped, counted.done) == (7, True, False)
    assert counted.metrics is None
    assert counted.judged(Side(sha="0" * 40, metrics=metrics, params=params)).metrics == metrics


def test_missing_or_unreadable_files_are_problems_not_crashes(
    project: Path, tmp_path: Path
) -> None:
    """No model, an unreadable model or a test split the model cannot score: each is a problem
    the report shows, never a traceback, and nothing is re-scored."""
    params, metrics, held_out = _read(project)
    root = tmp_path / "branch"
    shutil.copytree(project, root)
    (root / MODEL).unlink()
    missing = rescore(root, params, metrics, held_out)
    assert (missing.done, missing.refused_model) == (False, False)
    assert missing.problem == f"{MODEL} is not among the branch's files"

    (root / MODEL).write_bytes(b"not a zip archive")
    refused = rescore(root, params, metrics, held_out)
    assert refused.refused_model is True
    assert refused.problem is not None
    assert str(root / MODEL) in refused.problem

    shutil.copy(project / MODEL, root / MODEL)
    test = pd.read_parquet(root / "data/prepared/test.parquet")
    schema = json.loads((root / "data/prepared/schema.json").read_text())
    feature = [*schema["numeric"], *schema["categorical"]][0]
    test.drop(columns=[feature]).to_parquet(root / "data/prepared/test.parquet")
    broken = rescore(root, params, metrics, held_out)
    assert broken.done is False
    assert broken.problem is not None
    assert feature in broken.problem


def test_evaluate_settings_the_judge_cannot_use_are_a_problem_not_a_crash(project: Path) -> None:
    """The branch's params.yaml is data to the judge: a bootstrap count that would run for hours,
    a threshold outside (0, 1) or a negative seed fails the gate with what is wrong."""
    params, metrics, held_out = _read(project)
    for change, named in (
        ({"evaluate": {**params["evaluate"], "bootstrap": 10**9}}, "bootstrap"),
        ({"evaluate": {**params["evaluate"], "threshold": 1.5}}, "threshold"),
        ({"seed": -1}, "seed -1 is negative"),
    ):
        found = rescore(project, {**params, **change}, metrics, held_out)
        assert found.done is False
        assert found.problem is not None
        assert found.problem.startswith("its params.yaml's evaluate settings or seed are not valid")
        assert named in found.problem


def test_judged_side_is_unchanged_when_nothing_was_rescored() -> None:
    """A re-scoring that could not be done leaves the branch's own figures in place."""
    side = Side(sha="0" * 40, metrics={"roc_auc": 0.9}, params={})
    assert Rescoring(problem="no model").judged(side) is side
    done = Rescoring(metrics={"roc_auc": 0.7}, plots={"roc": []}, predictions=None)
    assert done.judged(side).metrics == {"roc_auc": 0.7}
    # Six-digit rounding is not a difference; anything more, or a missing figure, is.
    assert rescoring.metric_differences({"roc_auc": 0.9}, {"roc_auc": 0.9 + 1e-7}) == []
    assert rescoring.metric_differences({"roc_auc": 0.9, "brier": 0.1}, {"roc_auc": 0.91}) == [
        "roc_auc: 0.9 → 0.91",
        "brier: 0.1 → None",
    ]
