"""The whole pipeline under real DVC and git, as a user runs it after cloning."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitops_ml.core.params import load_params
from gitops_ml.infra.files import md5
from gitops_ml.infra.tables import read_table

from ..conftest import ROOT, copy_project, run

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


def _other_dataset(n: int, seed: int) -> pd.DataFrame:
    """A dataset unlike the default: other names, an id, a string target with other labels."""
    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 30.0, n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    age = rng.integers(18, 90, n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    logit = -1.5 + 0.03 * (usage - 60) + np.where(region == "west", 1.2, 0.0) - 0.01 * (age - 50)
    outcome = np.where(
        rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit))), "defaulted", "repaid"
    )
    return pd.DataFrame(
        {
            "account": [f"A{i:05d}" for i in range(n)],
            "monthly_usage": usage.round(2),
            "region": region,
            "age": age,
            "status": outcome,
        }
    )


def test_another_dataset_runs_by_changing_params_only(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """A Parquet file with other columns and labels runs end to end after editing params.yaml."""
    repo = copy_project(tmp_path / "other", tool_env)
    _other_dataset(2000, seed=1).to_parquet(repo / "data/raw/loans.parquet", index=False)
    _set_param(
        repo,
        "data",
        {
            "raw": "data/raw/loans.parquet",
            "target": "status",
            "positive_label": "defaulted",
            "id_column": "account",
            "test_size": 0.25,
            "max_missing": 0.5,
        },
    )
    done = run(["dvc", "repro"], repo, tool_env)
    assert _ran(done.stdout) == {"prepare", "train", "evaluate"}
    schema = json.loads((repo / "data/prepared/schema.json").read_text())
    assert (schema["numeric"], schema["categorical"]) == (["monthly_usage", "age"], ["region"])
    assert (schema["positive_label"], schema["negative_label"]) == ("defaulted", "repaid")
    test = pd.read_parquet(repo / "data/prepared/test.parquet")
    assert len(test) == 500
    assert test["account"].str.startswith("A").all()
    metrics = json.loads((repo / "eval/metrics.json").read_text())
    assert metrics["n_test"] == 500
    assert metrics["roc_auc"] > 0.7
    confusion = json.loads((repo / "eval/plots/confusion.json").read_text())
    assert {row["actual"] for row in confusion} == {"defaulted", "repaid"}
