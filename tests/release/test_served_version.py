"""A registered version carries everything needed to serve it: the champion loaded from a store
that never saw its training run labels and scores records as the model file it was registered
from does, reports its metrics, lineage and threshold, and counts unseen categories.

Each model is promoted by the real `promote` (in-process) into a fresh store: an SQLite file per
test, and once a real `mlflow server` on loopback. The train stage never logged there (the model
is trained in-process), so the registry holds only what `promote` stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from gitops_ml.core.params import ServeParams, load_params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import lineage, model_source, tracking
from gitops_ml.infra.model_files import load_model
from gitops_ml.release.registry import ModelRegistry
from gitops_ml.serving import app as serving
from gitops_ml.serving import batch
from gitops_ml.serving.batcher import Source

from ..conftest import BIN
from ..support.promotion import build_variant, clone_prepared, point_at, promote_here
from ..support.serving import free_port, process

SETTINGS = ServeParams(max_records=200, poll_seconds=0)
ROWS = 60
STORED = 0.35  # evaluate.threshold at the promoted commit; the serving side keeps 0.5


@pytest.fixture
def registry_uri(tmp_path: Path) -> str:
    """A fresh SQLite store of the test's own (the server test asks for the server instead)."""
    return f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"


def _promote(repo: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Build a model at a commit whose evaluate.threshold is STORED and promote it."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["evaluate"]["threshold"] = STORED
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    build_variant(repo, env, "A model (#3)", max_iter=30, max_leaf_nodes=8)
    outcome = promote_here(repo, monkeypatch)
    assert outcome.decision.promote, outcome.decision.reason
    return outcome.version


def _records(repo: Path, schema: FeatureSchema) -> list[dict[str, Any]]:
    frame = pd.read_parquet(repo / "data" / "prepared" / "test.parquet")[schema.features]
    frame = frame.head(ROWS).astype(object)
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _app(
    uri: str, schema_path: Path, threshold: float = 0.5, settings: ServeParams = SETTINGS
) -> Any:
    """The API serving `uri` as `gitops-ml serve` builds it (the serving side's evaluate: 0.5)."""
    ref = model_source.resolve(uri)
    loaded = model_source.load(ref, schema_path=schema_path)
    source = Source(resolve=lambda: ref, load=lambda _: loaded, pollable=False)
    return serving.create_app(loaded.schema, source, settings, threshold, initial=loaded)


@pytest.fixture(scope="module")
def promoted(
    prepared_repo: Path, tool_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """A repository whose model was promoted into a fresh SQLite store, shared by the tests
    that only read it (the store stays the process's registry while they run); (repo, version)."""
    root = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as patch:
        env = point_at(f"sqlite:///{root / 'fresh' / 'mlflow.db'}", tool_env, patch)
        repo = clone_prepared(
            prepared_repo, root / "repo", root / "origin.git", env, "m-served-version"
        )
        yield repo, _promote(repo, env, patch)


def test_the_champion_serves_as_its_model_file_from_a_fresh_store(
    promoted: tuple[Path, str], tmp_path: Path
) -> None:
    """Same probabilities (within 1e-9) and labels as the file served with its own schema and
    threshold; /metadata gives the version's metrics, lineage, schema source and threshold."""
    repo, version = promoted
    params = load_params(repo / "params.yaml")
    name = params.registry.model_name
    schema_path = repo / "data" / "prepared" / "schema.json"
    schema = FeatureSchema.read(schema_path)
    records = _records(repo, schema)
    # The registry side has no schema file to fall back on: whatever it knows, it carries.
    with TestClient(_app(f"models:/{name}@champion", tmp_path / "no-schema.json")) as c:
        served = c.post("/predict", json=records).json()
        meta = c.get("/metadata").json()
    with TestClient(_app(str(repo / "models" / "model.skops"), schema_path, STORED)) as c:
        local = c.post("/predict", json=records).json()
    got = np.array([p["probability"] for p in served["predictions"]])
    want = np.array([p["probability"] for p in local["predictions"]])
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    assert [p["label"] for p in served["predictions"]] == [p["label"] for p in local["predictions"]]
    labels = {p["label"] for p in served["predictions"]}
    assert labels == {schema.positive_label, schema.negative_label}  # the file's, not 1/0
    assert served["threshold"] == STORED
    assert (meta["model_version"], meta["threshold"]) == (version, STORED)
    assert meta["schema_source"] == "model metadata"
    stored = ModelRegistry(name, tracking.tracking_uri()).get(version).tags
    assert meta["metrics"] == lineage.metrics(stored)
    assert meta["metrics"]["roc_auc"] > 0.75
    assert meta["git_commit"] == stored[lineage.COMMIT]
    assert meta["data_hashes"]["dvc.data.md5"] == stored[lineage.DATA]
    assert meta["data_hashes"]["data.md5.data/prepared/test.parquet"]
    assert stored[lineage.THRESHOLD] == repr(STORED)


def test_serve_threshold_overrides_the_stored_one_and_unseen_categories_are_counted(
    promoted: tuple[Path, str], tmp_path: Path
) -> None:
    """serve.threshold, when set, labels the records; a category training never saw is counted."""
    repo, _ = promoted
    name = load_params(repo / "params.yaml").registry.model_name
    schema = FeatureSchema.read(repo / "data" / "prepared" / "schema.json")
    records = _records(repo, schema)
    override = ServeParams(max_records=200, poll_seconds=0, threshold=0.8)
    app = _app(f"models:/{name}@champion", tmp_path / "none.json", settings=override)
    category = schema.categorical[0]
    with TestClient(app) as c:
        body = c.post("/predict", json=records).json()
        c.post("/predict", json=[{**records[0], category: "never seen in training"}] * 2)
        text = c.get("/metrics").text
        assert c.get("/metadata").json()["threshold"] == 0.8
    assert body["threshold"] == 0.8
    for p in body["predictions"]:
        expected = schema.positive_label if p["probability"] >= 0.8 else schema.negative_label
        assert p["label"] == expected
    assert f'gitops_ml_unseen_category_total{{feature="{category}"}} 2.0' in text


def test_predict_scores_the_champion_as_its_model_file(
    promoted: tuple[Path, str], tmp_path: Path
) -> None:
    """`predict` from the registry writes the labels and probabilities `predict` writes from the
    model file at its own threshold; serve.threshold still overrides."""
    repo, _ = promoted
    name = load_params(repo / "params.yaml").registry.model_name
    schema_path = repo / "data" / "prepared" / "schema.json"
    source = tmp_path / "batch.csv"
    pd.read_parquet(repo / "data" / "prepared" / "test.parquet").head(ROWS).to_csv(
        source, index=False
    )
    common = {"schema_path": tmp_path / "none.json", "progress": False}
    batch.run(f"models:/{name}@champion", source, tmp_path / "reg.csv", threshold=0.5, **common)
    batch.run(
        str(repo / "models" / "model.skops"),
        source,
        tmp_path / "file.csv",
        threshold=STORED,
        schema_path=schema_path,
        progress=False,
    )
    registry_out = pd.read_csv(tmp_path / "reg.csv", dtype={"label": str})
    file_out = pd.read_csv(tmp_path / "file.csv", dtype={"label": str})
    assert np.allclose(registry_out["probability"], file_out["probability"], rtol=0, atol=1e-9)
    assert registry_out["label"].tolist() == file_out["label"].tolist()
    positive = FeatureSchema.read(schema_path).positive_label
    assert set(registry_out["label"]) <= {positive, FeatureSchema.read(schema_path).negative_label}
    batch.run(
        f"models:/{name}@champion",
        source,
        tmp_path / "high.csv",
        threshold=0.5,
        threshold_override=0.99,
        **common,
    )
    high = pd.read_csv(tmp_path / "high.csv", dtype={"label": str})
    assert (high["label"] == positive).sum() == (high["probability"] >= 0.99).sum()


def test_a_training_run_logged_without_the_schema_is_not_what_is_registered(
    make_repo: Callable[[], Path], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished run holding this very model file but no schema in its metadata (an earlier
    release's train) is passed over: the version gets a model that carries its schema."""
    repo = make_repo()
    build_variant(repo, env, "A model", max_iter=20, max_leaf_nodes=4)
    monkeypatch.chdir(repo)
    params = load_params(repo / "params.yaml")
    prepared = repo / "data" / "prepared"
    schema = FeatureSchema.read(prepared / "schema.json")
    test = pd.read_parquet(prepared / "test.parquet")
    old = tracking.log_training(
        model_path=repo / "models" / "model.skops",
        example=test[schema.features].head(5),
        params=params,
        data_files=[prepared / "train.parquet"],
    )
    assert tracking.logged_schema(old) is None
    outcome = promote_here(repo, monkeypatch)
    reg = ModelRegistry(params.registry.model_name, tracking.tracking_uri())
    version = reg.get(outcome.version)
    assert version.run_id != old
    loaded = model_source.load(
        model_source.resolve(f"models:/{reg.name}/{version.version}"),
        schema_path=repo / "missing.json",
    )
    assert loaded.info.schema_source == "model metadata"
    assert loaded.schema == schema


@pytest.mark.slow
def test_the_champion_serves_as_its_model_file_from_a_tracking_server(
    make_repo: Callable[[], Path],
    env: dict[str, str],
    mlflow_server: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """On a real `mlflow server` that never saw the training, `gitops-ml serve` (real uvicorn)
    answers as the model file does, with the version's own threshold, metrics and schema."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    env = {**env, "MLFLOW_TRACKING_URI": mlflow_server}
    repo = make_repo()
    version = _promote(repo, env, monkeypatch)
    params = load_params(repo / "params.yaml")
    schema = FeatureSchema.read(repo / "data" / "prepared" / "schema.json")
    records = _records(repo, schema)
    model = load_model(repo / "models" / "model.skops")
    frame = pd.read_parquet(repo / "data" / "prepared" / "test.parquet")[schema.features]
    want = model.predict_proba(frame.head(ROWS))[:, 1]
    # Served from an empty directory with the template's own params (evaluate.threshold 0.5):
    # nothing local tells the server the schema, the labels or the threshold.
    serve_dir = tmp_path / "elsewhere"
    serve_dir.mkdir()
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["evaluate"]["threshold"] = 0.5
    (serve_dir / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "gitops-ml"), "serve", "--port", str(port)]
    with process(cmd, serve_dir, env, f"{url}/ready"):
        body = httpx.post(f"{url}/predict", json=records, timeout=30).json()
        meta = httpx.get(f"{url}/metadata").json()
    got = np.array([p["probability"] for p in body["predictions"]])
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    expected = np.where(want >= STORED, schema.positive_label, schema.negative_label)
    assert [p["label"] for p in body["predictions"]] == expected.tolist()
    assert (meta["model_version"], meta["threshold"]) == (version, STORED)
    assert meta["model_name"] == params.registry.model_name
    assert meta["schema_source"] == "model metadata"
    assert meta["metrics"]["roc_auc"] > 0.75
    assert json.dumps(meta["features"]) == json.dumps(schema.features)
