"""The model the pipeline logs: its saved file copied as it is, in a directory MLflow serves.

Against a real SQLite tracking store, with the model logged as `evaluate` logs a new model.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.models import infer_signature

from gitops_ml.core.model import build_pipeline
from gitops_ml.core.model_types import ESTIMATORS
from gitops_ml.core.params import TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import model_files, model_source, tracking
from gitops_ml.infra.files import sha256_bytes
from gitops_ml.infra.logged_model import MODEL_FILE, requirements

from ..support.serving import Trained


@pytest.fixture
def logged(trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's model logged as the pipeline logs it, in a fresh store; its model URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    run_id = tracking.log_training(**trained.log_args())
    return f"runs:/{run_id}/model"


def test_the_logged_file_is_the_saved_file(trained: Trained, logged: str) -> None:
    """The model is not serialised again: the logged file has the saved file's bytes."""
    fetched = model_source.fetch(logged)
    assert fetched.sha256 == sha256_bytes(trained.model_path.read_bytes())
    assert fetched.meta.flavors["sklearn"]["serialization_format"] == "skops"
    assert fetched.meta.flavors["sklearn"]["pickled_model"] == MODEL_FILE
    assert fetched.meta.flavors["sklearn"]["skops_trusted_types"] == model_files.trusted_names()
    assert fetched.meta.signature.inputs.input_names() == list(trained.schema.features)


def test_the_signature_is_the_one_the_model_s_scores_give(trained: Trained, logged: str) -> None:
    """The signature is declared without loading the model: it is the one MLflow infers from
    the model's own scores, and every model type scores in float64 as it declares."""
    example = trained.test[list(trained.schema.features)].head(5)
    scored = trained.pipeline.predict_proba(example)[:, 1]
    assert model_source.fetch(logged).meta.signature == infer_signature(example, scored)
    frame = pd.DataFrame({"x": np.arange(40.0), "c": ["a", "b"] * 20})
    y = np.arange(40) % 2
    schema = FeatureSchema("y", "1", "0", ("x",), ("c",))
    for kind in ESTIMATORS:  # every `train.model.type`
        settings = TrainParams.model_validate({"model": {"type": kind}})
        fitted = build_pipeline(schema, settings, seed=0).fit(frame, y)
        assert fitted.predict_proba(frame).dtype == np.float64, kind


def test_mlflow_s_own_loader_serves_it(
    trained: Trained, logged: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's pyfunc loader (what `mlflow models serve` runs) loads the logged model with the
    allow-list the MLmodel lists, and it scores as the file does; the requirements are the
    listed pins."""
    # As in a fresh `mlflow models serve` process: the package switches MLflow's loaders off
    # in its own processes (model_source), and this one has loaded models before.
    monkeypatch.setenv(tracking.NO_PICKLE_ENV, "true")
    local = Path(mlflow.artifacts.download_artifacts(logged, dst_path=str(tmp_path / "dl")))
    assert (local / "requirements.txt").read_text().split() == requirements()
    env = yaml.safe_load((local / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    served = mlflow.pyfunc.load_model(str(local))
    x = trained.test[list(trained.schema.features)].head(20)
    x = x.astype(dict.fromkeys(trained.schema.categorical, object))  # text, as JSON sends it
    np.testing.assert_array_equal(served.predict(x), trained.pipeline.predict(x))


def test_evaluation_logs_a_new_model_once_and_adds_to_its_run(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate` logs a model that has no run yet (params, model, metrics); evaluating the same
    model file again adds its metrics to that run instead of logging the model twice."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)

    def evaluated(metrics: dict[str, float]) -> str:
        return tracking.log_evaluation(**trained.log_args(), metrics=metrics, figures=[])

    first = evaluated({"roc_auc": 0.8})
    again = evaluated({"roc_auc": 0.7})
    assert again == first
    client = tracking.client()
    runs = client.search_runs(
        [client.get_experiment_by_name(trained.params.mlflow.experiment).experiment_id]
    )
    assert [r.info.run_id for r in runs] == [first]
    assert runs[0].data.metrics["roc_auc"] == 0.7
    assert runs[0].data.params["seed"] == str(trained.params.seed)
    fetched = model_source.fetch(f"runs:/{first}/model")
    assert fetched.sha256 == sha256_bytes(trained.model_path.read_bytes())
