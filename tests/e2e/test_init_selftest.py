"""Self-test of a generated project: `gitops-ml init` on new data, then the whole loop there.

A copy of the template (a real git repository) is pointed by `gitops-ml init` at a Parquet
dataset made here, with other column names and a string target whose positive label is
"churned"; then, in that project: repro (done by init) → a branch and the pull-request report
against main → merge and promotion into a real MLflow server named only in params.yaml → the
champion served by a real uvicorn → a simulated, drifted batch monitored.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from ..conftest import copy_project, run
from ..support.serving import MlflowServer, env_for, free_port, process
from ..test_example_data import collect_example_tests

# Init starts from the template as shipped, on the example data.
pytestmark = [pytest.mark.slow, pytest.mark.example_data]

MODEL = "account-churn"
COLUMNS = {"account_id", "plan_tier", "region", "tenure_months", "monthly_spend", "tickets"}


def make_accounts(path: Path, rows: int = 1200, seed: int = 3) -> pd.DataFrame:
    """A churn-like table with an id, two categorical and three numeric columns, all informative."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], rows)
    tenure = rng.integers(1, 72, rows).astype(float)
    spend = np.round(rng.gamma(2.0, 30.0, rows), 2)
    tickets = rng.poisson(1.5, rows)
    logit = (
        -0.5
        + 2.0 * (plan == "basic")
        - 1.0 * (plan == "premium")
        - 0.07 * tenure
        + 0.9 * tickets
        + 0.01 * spend
        - 1.0 * (region == "west")
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(rows)],
            "plan_tier": plan,
            "region": region,
            "tenure_months": tenure,
            "monthly_spend": spend,
            "tickets": tickets,
            "status": np.where(churned, "churned", "stayed"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def _init_args(data: Path, remote: Path, server: MlflowServer) -> list[str]:
    return [
        "gitops-ml",
        "init",
        "--yes",
        "--data",
        str(data),
        "--target",
        "status",
        "--positive-label",
        "churned",
        "--name",
        "accounts",
        "--model-name",
        MODEL,
        "--remote",
        str(remote),
        "--tracking-uri",
        server.uri,
        "--remove-example-data",
    ]


@dataclass(frozen=True)
class Generated:
    """The project made by init, and how init was called."""

    repo: Path
    data: Path
    frame: pd.DataFrame
    env: dict[str, str]
    args: list[str]
    output: str


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str], mlflow_server: MlflowServer
) -> Generated:
    """A template copy after `gitops-ml init` on generated accounts data, committed on main."""
    home = tmp_path_factory.mktemp("generated")
    repo = copy_project(home / "project", tool_env)
    # A smaller model and fewer bootstrap rounds keep the loop quick; a user may tune them too.
    _replace(repo / "params.yaml", "max_iter: 200", "max_iter: 60")
    _replace(repo / "params.yaml", "bootstrap: 200", "bootstrap: 60")
    run(["git", "commit", "-qam", "Tune for a small dataset"], repo, tool_env)
    data = home / "incoming" / "accounts.parquet"
    frame = make_accounts(data)
    env = env_for(None, tool_env)  # no MLFLOW_TRACKING_URI: params.yaml must name the server
    args = _init_args(data, home / "dvc-remote", mlflow_server)
    done = run(args, repo, env)
    return Generated(repo, data, frame, env, args, done.stdout)


def test_init_points_the_project_at_the_new_data(
    generated: Generated, mlflow_server: MlflowServer, tool_env: dict[str, str]
) -> None:
    """Init shows what it inferred, edits params keeping comments, and reruns the pipeline."""
    repo = generated.repo
    out = generated.output
    assert "numeric (3)" in out
    assert "tenure_months" in out
    assert "categorical (2)" in out
    assert "account_id" in out
    assert "churned (positive)" in out

    text = (repo / "params.yaml").read_text()
    assert text.startswith("# Every knob of the pipeline.")  # comments kept
    assert "# The quality gate of pull requests" in text
    params = yaml.safe_load(text)
    assert params["data"] | {"test_size": None, "max_missing": None} == {
        "raw": "data/raw/accounts.parquet",
        "target": "status",
        "positive_label": "churned",
        "id_column": "account_id",
        "test_size": None,
        "max_missing": None,
    }
    assert params["mlflow"]["experiment"] == "accounts"
    assert params["registry"]["model_name"] == MODEL
    assert params["registry"]["intended_use"] == ""
    assert params["registry"]["limitations"] == []
    assert params["tracking"]["uri"] == mlflow_server.uri
    assert (repo / "data/raw/accounts.parquet").read_bytes() == generated.data.read_bytes()
    assert not (repo / "data/raw/telco_churn.csv").exists()
    assert MODEL in yaml.safe_load((repo / "artifacts.yaml").read_text())
    dvc_config = (repo / ".dvc/config").read_text()
    assert "remote = storage" in dvc_config
    assert "dvc-remote" in dvc_config

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["prepare"]["deps"][0]["path"] == "data/raw/accounts.parquet"
    metrics = json.loads((repo / "eval/metrics.json").read_text())
    assert metrics["n_test"] == 240
    assert metrics["roc_auc"] >= 0.8
    # Floors now sit under this first run's values (the example's floors fit the example only).
    floors = params["gates"]["floors"]
    assert floors["roc_auc"] <= metrics["roc_auc"] - 0.02 < floors["roc_auc"] + 0.01
    assert floors["log_loss"] >= metrics["log_loss"] + 0.03

    # Everything init changed is staged for one commit; nothing else is left over.
    assert run(["git", "diff", "--name-only"], repo, tool_env).stdout == ""
    staged = run(["git", "diff", "--cached", "--name-only"], repo, tool_env).stdout.split()
    assert {"params.yaml", "dvc.lock", "eval/metrics.json", "data/raw/accounts.parquet"} <= set(
        staged
    )
    run(["git", "commit", "-qm", "Start accounts"], repo, tool_env)

    # The training run went to the server named in params.yaml, in the new experiment.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.uri, registry_uri=mlflow_server.uri)
    experiment = client.get_experiment_by_name("accounts")
    assert experiment is not None
    assert client.search_runs([experiment.experiment_id], max_results=5)


def test_init_again_with_the_same_answers_changes_nothing(
    generated: Generated, tool_env: dict[str, str]
) -> None:
    """A second run with the same flags says so and leaves the repository as committed."""
    repo = generated.repo
    if run(["git", "status", "--porcelain"], repo, tool_env).stdout:
        run(["git", "commit", "-qm", "Start accounts"], repo, tool_env)
    head = run(["git", "rev-parse", "HEAD"], repo, tool_env).stdout
    done = run(generated.args, repo, generated.env)
    assert "Nothing to change" in done.stdout
    assert run(["git", "status", "--porcelain"], repo, tool_env).stdout == ""
    assert run(["git", "rev-parse", "HEAD"], repo, tool_env).stdout == head


def test_generated_project_leaves_out_the_example_data_tests(
    generated: Generated, tool_env: dict[str, str]
) -> None:
    """The project's own suite, collected there, selects none of the example-data tests."""
    selected, left_out = collect_example_tests(generated.repo, tool_env)
    assert selected == []
    assert left_out > 0


def test_generated_project_runs_the_whole_loop(
    generated: Generated, tool_env: dict[str, str]
) -> None:
    """Report against main, promote on merge, serve the champion, monitor a drifted batch."""
    repo, env, frame = generated.repo, generated.env, generated.frame
    if run(["git", "status", "--porcelain"], repo, tool_env).stdout:
        run(["git", "commit", "-qm", "Start accounts"], repo, tool_env)

    # A batch of current data, drifted in two of the new columns, made in the background.
    batch = repo.parent / "batch.parquet"
    simulate = subprocess.Popen(
        [
            "gitops-ml",
            "simulate",
            "--rows",
            "400",
            "--output",
            str(batch),
            "--drift",
            "tenure_months:shift=40,plan_tier:new=enterprise@0.3",
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    # A pull request: one train parameter changes; DVC reruns train and evaluate only.
    run(["git", "checkout", "-q", "-b", "faster-learning"], repo, tool_env)
    _replace(repo / "params.yaml", "learning_rate: 0.05", "learning_rate: 0.08")
    repro = run(["dvc", "repro"], repo, env).stdout
    assert "Running stage 'train'" in repro
    assert "Running stage 'prepare'" not in repro
    run(["git", "commit", "-qam", "Learn faster"], repo, tool_env)
    run(["gitops-ml", "report", "--out", "reports/pr", "--base", "main", "--check"], repo, env)
    report = json.loads((repo / "reports/pr/report.json").read_text())
    assert report["passed"] is True
    assert report["base"]["has_baseline"] is True
    assert {
        "key": "train.model.learning_rate",
        "base": 0.05,
        "branch": 0.08,
        "kind": "changed",
    } in report["params_changed"]
    base_auc = json.loads(run(["git", "show", "main:eval/metrics.json"], repo, tool_env).stdout)
    roc = next(m for m in report["metrics"] if m["metric"] == "roc_auc")
    assert roc["base"] == base_auc["roc_auc"]
    assert {c["threshold"] for c in report["gate"]["checks"] if c["metric"] == "roc_auc"} >= {
        yaml.safe_load((repo / "params.yaml").read_text())["gates"]["floors"]["roc_auc"]
    }

    # Merge, then what promote.yml runs on main: register, decide, tag.
    run(["git", "checkout", "-q", "main"], repo, tool_env)
    run(["git", "merge", "-q", "--ff-only", "faster-learning"], repo, tool_env)
    run(["gitops-ml", "promote", "--out", "reports/promotion"], repo, env)
    decision = json.loads((repo / "reports/promotion/decision.json").read_text())
    assert decision["model"] == MODEL
    assert decision["promoted"] is True
    card = (repo / "reports/promotion/model_card.md").read_text()
    assert "Target: `status`, positive label `churned`" in card
    assert "telecom" not in card.lower()
    tags = run(["git", "tag", "--list", f"{MODEL}*"], repo, tool_env).stdout.split()
    assert tags, "promotion records GTO tags for the new model name"

    # Monitor the batch while the champion, served from the registry that params.yaml names,
    # answers one prediction.
    assert simulate.wait(timeout=300) == 0, simulate.communicate()[0]
    out = repo.parent / "monitor"
    monitor = subprocess.Popen(
        ["gitops-ml", "monitor", "--current", str(batch), "--out", str(out)],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    port = free_port()
    record = frame.drop(columns="status").iloc[0].to_dict()
    serve = ["gitops-ml", "serve", "--port", str(port)]
    with process(serve, repo, env, f"http://127.0.0.1:{port}/ready"):
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json=record, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == MODEL
    prediction = body["predictions"][0]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["label"] in {"churned", "stayed"}
    assert prediction["id"] == record["account_id"]

    said = monitor.communicate(timeout=300)[0]
    assert monitor.returncode == 0, said
    assert said.startswith("drift detected")
    result = json.loads((out / "monitor.json").read_text())
    features = {f["feature"]: f for f in result["features"]}
    assert set(features) == COLUMNS - {"account_id"}
    assert features["tenure_months"]["drifted"] is True
    assert features["plan_tier"]["new_categories"] == {"enterprise": pytest.approx(120, abs=40)}
    assert features["region"]["drifted"] is False
