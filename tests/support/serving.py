"""Fixtures and helpers of the serving tests: a small trained model, a real MLflow server."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from gitops_ml.core.dataset import prepare
from gitops_ml.core.params import Params, load_params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import tracking as track
from gitops_ml.infra.model_files import save_model
from gitops_ml.infra.tables import read_table
from gitops_ml.pipeline.train import fit

from ..conftest import BIN, ROOT

ID = "customer_id"
MODEL_NAME = "churn-classifier"


@dataclass(frozen=True)
class Trained:
    """A model fitted on the default data (with an id column), saved as prepare/train do."""

    root: Path
    params: Params
    schema: FeatureSchema
    pipeline: Any
    test: pd.DataFrame

    @property
    def model_path(self) -> Path:
        return self.root / "models" / "model.skops"

    @property
    def schema_path(self) -> Path:
        return self.root / "data" / "prepared" / "schema.json"

    def log_args(self, data_files: list[Path] | None = None) -> dict[str, Any]:
        """The model as the pipeline logs it: the arguments of `tracking.log_training`."""
        return {
            "model_path": self.model_path,
            "example": self.test[list(self.schema.features)].head(5),
            "params": self.params,
            "data_files": data_files or [],
            "schema": self.schema,
        }

    def records(self, n: int) -> list[dict[str, Any]]:
        """The first n test rows as JSON-ready records (id included)."""
        cols = [ID, *self.schema.features]
        frame = self.test[cols].head(n).astype(object)
        frame = frame.where(frame.notna(), None)
        return [dict(zip(cols, row, strict=True)) for row in frame.itertuples(index=False)]


def fit_model(root: Path, max_iter: int = 40, seed: int = 42) -> Trained:
    """Prepare the project's data with an id column and fit a small model into `root`."""
    base = load_params(ROOT / "params.yaml")
    target = base.data.target
    raw = read_table(ROOT / base.data.raw, text=[target]).frame  # labels as the file spells them
    # The tests know the id column by one name: it replaces the data's own id column, if any.
    raw = raw.drop(columns=[base.data.id_column]) if base.data.id_column else raw
    raw.insert(0, ID, [f"C{i:05d}" for i in range(len(raw))])
    raw_path = root / "data" / "raw" / "churn.csv"
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw.to_csv(raw_path, index=False)
    params = base.model_copy(
        update={
            "seed": seed,
            "data": base.data.model_copy(update={"raw": str(raw_path), "id_column": ID}),
            "train": base.train.model_copy(
                update={"model": base.train.model.model_copy(update={"max_iter": max_iter})}
            ),
        }
    )
    table = read_table(raw_path, text=[target])
    train_frame, test_frame, schema = prepare(table, params.data, seed)
    prepared = root / "data" / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    train_frame.to_parquet(prepared / "train.parquet", index=False)
    test_frame.to_parquet(prepared / "test.parquet", index=False)
    (prepared / "schema.json").write_text(schema.to_json(), encoding="utf-8")
    from threadpoolctl import threadpool_limits

    # OpenMP threads on a busy shared machine slow the fit down many times over.
    with threadpool_limits(limits=1):
        pipeline = fit(train_frame, schema, params.train, seed)
    save_model(pipeline, root / "models" / "model.skops")
    return Trained(root, params, schema, pipeline, test_frame)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One small model for the session (read-only: copy before changing)."""
    return fit_model(tmp_path_factory.mktemp("trained"))


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    url: str, proc: subprocess.Popen[str], log_path: Path, timeout: float = 120.0
) -> None:
    """Wait for `url` to answer 200, failing early (with its log) if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = log_path.read_text()
            pytest.fail(f"process exited with {proc.returncode} before {url} answered:\n{out}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout} s")


@contextmanager
def process(cmd: list[str], cwd: Path, env: dict[str, str], ready_url: str) -> Iterator[None]:
    """Run a server process until the block ends; it must answer `ready_url` first.

    Its output goes to a log file beside it (a pipe nobody reads would fill up and stall it).
    """
    log_path = cwd / f"{Path(cmd[0]).name}-{free_port()}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_until(ready_url, proc, log_path)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server` on loopback."""

    uri: str


@contextmanager
def start_mlflow_server(
    home: Path,
    env: dict[str, str],
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
) -> Iterator[MlflowServer]:
    """A real MLflow tracking and registry server on loopback, serving artifacts.

    By default SQLite-backed with artifacts under `home`; a database URI and an object-store
    destination (with its endpoint and credentials in `env`) make it the shared kind.
    """
    port = free_port()
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination",
        artifacts_destination or str(home / "artifacts"),
    ]
    uri = f"http://127.0.0.1:{port}"
    # No background job runner: nothing here uses MLflow's server-side jobs.
    server_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with process(cmd, home, server_env, f"{uri}/health"):
        yield MlflowServer(uri)


@pytest.fixture(scope="session")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]
) -> Iterator[MlflowServer]:
    """A session-wide MLflow server for the serving tests."""
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow"), tool_env) as server:
        yield server


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """Point MLflow at `uri` for the block."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        yield


def register(model: Trained, server: MlflowServer, alias: str = "champion") -> str:
    """Log `model` as the pipeline does, register a new version, point `alias` at it."""
    from mlflow import MlflowClient

    with tracking(server.uri):
        train_split = model.root / "data" / "prepared" / "train.parquet"
        run_id = track.log_training(**model.log_args([train_split]))
        import mlflow

        client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
        client.log_metric(run_id, "roc_auc", 0.8)
        version = mlflow.register_model(f"runs:/{run_id}/model", MODEL_NAME)
        client.set_registered_model_alias(MODEL_NAME, alias, version.version)
        return str(version.version)


def env_for(server: MlflowServer | None, tool_env: dict[str, str]) -> dict[str, str]:
    """Environment for a gitops-ml subprocess talking to `server`."""
    env = {**tool_env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    if server is not None:
        env["MLFLOW_TRACKING_URI"] = server.uri
    return env
