"""Models from MLflow load from their skops file only, with a registered version's hash checked.

Against a real SQLite tracking store, with models logged as `train` logs them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from gitops_ml.core.errors import ModelError
from gitops_ml.infra import lineage, model_source, tracking
from gitops_ml.release.registry import ModelRegistry

from ..support.serving import Trained


def _logged(trained: Trained) -> str:
    """Log the session's model as the pipeline does; its run id."""
    return tracking.log_training(**trained.log_args())


def test_a_registered_version_is_checked_against_its_recorded_hash(
    trained: Trained, store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a recorded hash (registered by an earlier release) a version loads through the
    allow-list with a warning; with the right hash it loads silently; with another, never."""
    reg = ModelRegistry("churn", store)
    version = reg.register(_logged(trained), {})
    ref = model_source.resolve("models:/churn/1")
    assert (ref.registered, ref.sha256) == (True, None)
    caplog.set_level(logging.WARNING, logger="gitops_ml")
    legacy = model_source.load(ref, schema_path=trained.schema_path)
    assert legacy.info.version == version.version
    assert "no artifact hash was recorded when version 1 was registered" in caplog.text
    digest = model_source.fetch("models:/churn/1").sha256
    reg.tag("1", {lineage.ARTIFACT_SHA256: digest})
    caplog.clear()
    model_source.load(model_source.resolve("models:/churn/1"), schema_path=trained.schema_path)
    assert caplog.text == ""
    reg.tag("1", {lineage.ARTIFACT_SHA256: "0" * 64})
    with pytest.raises(ModelError, match=r"not the 0{64} recorded when it was registered"):
        model_source.load_estimator("models:/churn/1")


def test_a_run_uri_loads_through_the_allow_list_and_pickle_stays_off(
    trained: Trained, store: str
) -> None:
    """A runs:/ model loads (the allow-list checked, no hash to check), and afterwards MLflow's
    own loaders refuse pickles in this process."""
    run_id = _logged(trained)
    pipeline = model_source.load_estimator(f"runs:/{run_id}/model")
    assert type(pipeline).__name__ == "Pipeline"
    assert os.environ[tracking.NO_PICKLE_ENV] == "false"


def test_an_mlmodel_naming_a_file_outside_the_model_is_refused(
    trained: Trained, store: str, tmp_path: Path
) -> None:
    """A model directory whose MLmodel points its skops file outside the model is refused."""
    import mlflow.artifacts

    run_id = _logged(trained)
    uri = f"runs:/{run_id}/model"
    downloaded = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path))
    local = Path(downloaded)
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["pickled_model"] = "../../../etc/hostname"
    (local / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelError, match="names no model file inside the model"):
        model_source.load_estimator(str(local))
