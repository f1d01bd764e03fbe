"""The `gitops-ml` command: sets up the process (logs, PATH, tracking URI) and runs the app
whose commands `gitops_ml.commands` defines, one module per area.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import sysconfig
from pathlib import Path

import typer

from gitops_ml.commands import monitoring, pipeline, project, release, review, serving
from gitops_ml.commands.app import app
from gitops_ml.core.errors import UserError

# The command modules register their commands on `app` when imported, in this order.
COMMAND_MODULES = (pipeline, release, review, serving, monitoring, project)
__all__ = ["COMMAND_MODULES", "app", "main"]


def _export_tracking_uri() -> None:
    # MLflow resolves models:/ URIs through its own registry URI, which follows only the
    # environment: export params.yaml's tracking.uri so every MLflow call in this process (and
    # its children) sees the one URI that tracking_uri() reports. An empty variable (an unset
    # CI secret) counts as unset.
    from gitops_ml.infra.tracking import FROM_PARAMS_ENV, configured_uri, forbid_pickle

    forbid_pickle()  # no command loads a pickled model, through MLflow or otherwise
    # A progress bar per downloaded model would bury the one line a command prints.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        uri = configured_uri(Path("params.yaml"))
        if uri:
            os.environ["MLFLOW_TRACKING_URI"] = uri
            os.environ[FROM_PARAMS_ENV] = "1"


class _Stderr(logging.Handler):
    """The package's log lines on stderr: warnings as `warning: ...`, the rest as they are."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            typer.secho(f"warning: {record.getMessage()}", fg=typer.colors.YELLOW, err=True)
        else:
            typer.echo(record.getMessage(), err=True)


def _show_logs() -> None:
    logger = logging.getLogger("gitops_ml")
    if not any(isinstance(handler, _Stderr) for handler in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)


def _own_commands_first_on_path() -> None:
    # DVC runs each stage's command (`gitops-ml prepare ...`) through the shell, and `report`
    # runs `dvc`: the processes this one starts must find this environment's commands even when
    # it is not activated (`.venv/bin/gitops-ml init` runs `dvc repro`), and no other install's.
    scripts = sysconfig.get_path("scripts")
    current = os.environ.get("PATH", "")
    if current.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = f"{scripts}{os.pathsep}{current}" if current else scripts


def main() -> None:
    """Entry point: run the app, turning user errors into one message and exit code 1."""
    # Registered first, so it runs after every library's own exit handler: the interpreter's
    # last garbage collections walk every object the libraries made (about 0.1 s once pandas and
    # scikit-learn are loaded) only to free memory the ending process gives back anyway.
    # Frozen objects are skipped; nothing is left unwritten, as files are closed as they are
    # written and exit handlers have run.
    atexit.register(gc.freeze)
    try:
        _show_logs()
        _own_commands_first_on_path()
        _export_tracking_uri()
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
