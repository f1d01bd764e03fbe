"""Where runs and the registry live: the tracking URI, resolved the same way by every command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_ml.infra import tracking


def test_tracking_uri_is_the_variable_then_params_then_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLFLOW_TRACKING_URI wins; else params.yaml's tracking.uri; else mlflow.db here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # an unset CI secret
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    assert tracking.tracking_uri() == "http://elsewhere:5000"


def test_the_cli_exports_the_params_uri_for_mlflow_and_marks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's registry follows only the environment; a user's own variable is left alone."""
    from gitops_ml import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv(tracking.FROM_PARAMS_ENV, raising=False)
    cli._export_tracking_uri()
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert os.environ[tracking.FROM_PARAMS_ENV] == "1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mine:5000")
    monkeypatch.delenv(tracking.FROM_PARAMS_ENV)
    cli._export_tracking_uri()
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mine:5000"
    assert tracking.FROM_PARAMS_ENV not in os.environ


def test_tracking_store_follows_dvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DVC (DVC_ROOT set) the embedded store is the project's, wherever the command runs."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{copy / 'mlflow.db'}"
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_the_registry_in_use_is_described_without_showing_a_secret_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URI from the environment (a CI secret) is named, not shown; params.yaml's is shown."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tracking.FROM_PARAMS_ENV, raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://user:secret@mlflow.internal")
    described = tracking.describe_uri()
    assert "secret" not in described
    assert described == "the tracking server named by MLFLOW_TRACKING_URI"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.describe_uri().endswith(f"the SQLite store {tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    assert tracking.describe_uri() == "http://127.0.0.1:5999, from params.yaml's tracking.uri"
