"""The whole pipeline under real DVC and git, as a user runs it after cloning."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitops_ml.core.params import load_params
from gitops_ml.infra.files import md5
from gitops_ml.infra.tables import read_table

from ..conftest import ROOT, run

pytestmark = pytest.mark.slow


def _ran(output: str) -> set[str]:
    """Names of the stages a `dvc repro` output says it ran."""
    return {
        line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")
    }


def _set_param(repo: Path, dotted: str, value: object) -> None:
    path = repo / "params.yaml"
    content = yaml.safe_load(path.read_text())
    *parents, leaf = dotted.split(".")
    node = content
    for key in parents:
        node = node[key]
    node[leaf] = value
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def test_fresh_clone_reproduces_with_a_good_model(reproduced: Path) -> None:
    """A clone with no DVC remote runs every stage and clears the project's ROC AUC floor."""
    params = load_params(reproduced / "params.yaml")
    metrics = json.loads((reproduced / "eval/metrics.json").read_text())
    # The example's floor is 0.80; `gitops-ml init` sets a new project's from its first run.
    assert metrics["roc_auc"] >= params.gates.floors["roc_auc"] >= 0.5
    assert 0 < metrics["roc_auc_se"] < 0.05
    rows = len(read_table(reproduced / params.data.raw).frame)  # the example: 7043 → 1409
    n_test = math.ceil(rows * params.data.test_size)
    assert metrics["n_test"] == n_test
    assert metrics["tp"] + metrics["fp"] + metrics["tn"] + metrics["fn"] == n_test
    for name in ("roc", "prc", "calibration", "confusion", "importance"):
        assert json.loads((reproduced / f"eval/plots/{name}.json").read_text())
        assert (reproduced / f"eval/figures/{name}.png").read_bytes().startswith(b"\x89PNG")
    assert (reproduced / "models/model.skops").stat().st_size > 0


def test_committed_results_match_a_fresh_reproduction(reproduced: Path) -> None:
    """The committed metrics and dvc.lock are exactly what a clean clone reproduces."""
    assert (reproduced / "eval/metrics.json").read_bytes() == (
        ROOT / "eval/metrics.json"
    ).read_bytes(), "committed eval/metrics.json is stale: run `make run` and commit"
    lock = yaml.safe_load((reproduced / "dvc.lock").read_text())
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())
    assert lock == committed, "committed dvc.lock is stale: run `make run` and commit dvc.lock"


def test_run_is_tracked_in_mlflow(reproduced: Path, tool_env: dict[str, str]) -> None:
    """Training and evaluation land in one MLflow run with params, metrics and lineage tags."""
    db = sqlite3.connect(reproduced / "mlflow.db")
    runs = db.execute("select run_uuid from runs where status = 'FINISHED'").fetchall()
    assert len(runs) == 1
    (run_id,) = runs[0]
    metrics = dict(db.execute("select key, value from metrics where run_uuid = ?", (run_id,)))
    tags = dict(db.execute("select key, value from tags where run_uuid = ?", (run_id,)))
    logged = dict(db.execute("select key, value from params where run_uuid = ?", (run_id,)))
    expected = json.loads((reproduced / "eval/metrics.json").read_text())
    assert metrics["roc_auc"] == pytest.approx(expected["roc_auc"])
    commit = run(["git", "rev-parse", "HEAD"], reproduced, tool_env).stdout.strip()
    assert tags["git.commit"] == commit
    assert tags["git.branch"] == "main"
    raw = load_params(reproduced / "params.yaml").data.raw
    assert tags[f"dvc.prepare.{raw}"] == md5(reproduced / raw)
    assert logged["train.model.type"] == "hist_gradient_boosting"
    assert logged["seed"] == "42"


def test_second_repro_runs_nothing_and_a_train_param_reruns_train_and_evaluate(
    repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """Nothing re-runs when nothing changed; a train hyperparameter re-runs train and evaluate."""
    repo = repo_copy()
    assert _ran(run(["dvc", "repro"], repo, tool_env).stdout) == set()
    _set_param(repo, "train.model.learning_rate", 0.1)
    assert _ran(run(["dvc", "repro"], repo, tool_env).stdout) == {"train", "evaluate"}
    _set_param(repo, "evaluate.threshold", 0.4)
    assert _ran(run(["dvc", "repro"], repo, tool_env).stdout) == {"evaluate"}


def test_forced_repro_is_byte_identical(
    repo_copy: Callable[[], Path], reproduced: Path, tool_env: dict[str, str]
) -> None:
    """`dvc repro -f` reproduces metrics.json and the plot data byte for byte."""
    repo = repo_copy()
    done = run(["dvc", "repro", "-f"], repo, tool_env)
    assert _ran(done.stdout) == {"prepare", "train", "evaluate"}
    for rel in ("eval/metrics.json", "eval/plots/roc.json", "eval/plots/importance.json"):
        assert (repo / rel).read_bytes() == (reproduced / rel).read_bytes(), rel
