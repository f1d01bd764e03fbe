"""DVC experiments: `dvc exp run -S`, `dvc exp show`, and a queued sweep, logged to MLflow."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_ml.core.params import load_params

from ..conftest import run


def _make_fast(repo: Path, env: dict[str, str]) -> None:
    """Commit a quick baseline: logistic regression and few bootstrap resamples."""
    path = repo / "params.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(
        r"(?m)^  model:\n(?:    .*\n)+",
        "  model:\n    type: logistic_regression\n    C: 1.0\n",
        text,
    )
    text = re.sub(r"(?m)^  bootstrap: \d+$", "  bootstrap: 10", text)
    path.write_text(text, encoding="utf-8")
    run(["git", "commit", "-q", "-am", "baseline for experiments"], repo, env)


def _experiments(repo: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Experiment name → {"C": train.model.C, "metrics": eval/metrics.json} from `dvc exp show`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    found: dict[str, dict[str, Any]] = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for revision in exp["revs"]:
                data = revision["data"]
                found[revision["name"]] = {
                    "C": data["params"]["params.yaml"]["data"]["train"]["model"]["C"],
                    "metrics": data["metrics"]["eval/metrics.json"]["data"],
                }
    return found


def _mlflow_runs(repo: Path) -> list[Any]:
    """Every run in the repository's own embedded MLflow store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    return client.search_runs(
        [e.experiment_id for e in client.search_experiments()], max_results=100
    )


@pytest.mark.slow
def test_experiments_run_show_and_sweep_through_the_queue(
    repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """`exp run -S` and a queued sweep record params and metrics; MLflow runs land in the repo."""
    repo = repo_copy()
    _make_fast(repo, tool_env)

    # One experiment in the workspace.
    label = load_params(repo / "params.yaml").data.positive_label
    run(["dvc", "exp", "run", "-n", "half", "-S", "train.model.C=0.5"], repo, tool_env)
    produced = json.loads((repo / "eval" / "metrics.json").read_text(encoding="utf-8"))
    # `-S` rewrote params.yaml, unquoted (`"Yes"` becomes `Yes`); it still reads as DVC reads it.
    assert load_params(repo / "params.yaml").data.positive_label == label

    # A two-point sweep through the queue, from a clean workspace, into a new MLflow experiment.
    run(["git", "checkout", "--", "."], repo, tool_env)
    sweep_args = ["-S", "train.model.C=0.01,100", "-S", "mlflow.experiment=sweep"]
    run(["dvc", "exp", "run", "--queue", *sweep_args], repo, tool_env)
    run(["dvc", "exp", "run", "--run-all"], repo, tool_env)
    status = run(["dvc", "queue", "status"], repo, tool_env).stdout
    assert "Worker status: 0 active, 0 idle" in status  # the worker stopped
    assert "Failed" not in status

    shown = _experiments(repo, tool_env)
    assert shown["half"]["C"] == 0.5
    assert shown["half"]["metrics"] == produced  # what the run wrote to eval/metrics.json
    assert {"roc_auc", "log_loss", "roc_auc_se"} <= set(produced)
    sweep = {v["C"]: v for k, v in shown.items() if k != "half"}
    assert set(sweep) == {0.01, 100}
    assert sweep[0.01]["metrics"]["log_loss"] != sweep[100]["metrics"]["log_loss"]

    # Queued experiments run in a temporary copy; their MLflow runs land in the repository.
    runs = _mlflow_runs(repo)
    logged = {r.data.params["train.model.C"]: r for r in runs if "dvc.experiment" in r.data.tags}
    assert set(logged) == {"0.5", "0.01", "100.0"}
    assert logged["0.5"].data.tags["dvc.experiment"] == "half"
    for c, entry in sweep.items():
        mlflow_run = logged[str(float(c))]
        assert mlflow_run.data.metrics["log_loss"] == pytest.approx(entry["metrics"]["log_loss"])
        assert mlflow_run.data.tags["dvc.experiment"] in shown
        assert mlflow_run.info.artifact_uri.startswith((repo / "mlruns" / "sweep").as_uri())
