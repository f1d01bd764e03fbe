"""MLflow tracking: the only module of the pipeline that talks to a tracking server.

The tracking URI comes from MLFLOW_TRACKING_URI; without it, from `tracking.uri` of params.yaml
in the working directory; without either, an SQLite file `mlflow.db` in the project root
(DVC_ROOT under DVC, which names the project even when a queued experiment runs in a temporary
copy; else the working directory).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_ml.core.errors import ParamsError
from gitops_ml.core.yaml12 import parse_yaml
from gitops_ml.infra import dvc_lock, lineage
from gitops_ml.infra.files import md5
from gitops_ml.infra.logged_model import SavedSkopsFlavor

if TYPE_CHECKING:
    import pandas as pd

    from gitops_ml.core.params import MlflowParams, Params
    from gitops_ml.core.schema import FeatureSchema

# The CLI resolves the tracking URI on every command, `--help` included, through
# `configured_uri`: MLflow and pandas are imported inside the functions that use them.
# Set beside MLFLOW_TRACKING_URI when the CLI exported it from params.yaml (not the user), so a
# command that rewrites params.yaml (init) can let its child processes resolve it afresh.
FROM_PARAMS_ENV = "GITOPS_ML_TRACKING_URI_FROM_PARAMS"
# Key of the feature schema in a logged model's metadata (MLmodel), so that every URI of the
# model (runs:/, models:/, a downloaded directory) carries the columns it takes.
SCHEMA_METADATA = "gitops_ml_schema"
# MLflow's switch for its own model loaders, which follow whatever format a model declares.
NO_PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


def forbid_pickle() -> None:
    """Switch off MLflow's deserialization of pickled models in this process and its children.

    The package never calls MLflow's loaders (`model_source` reads skops files itself): this
    makes sure nothing else in the process does either.
    """
    os.environ[NO_PICKLE_ENV] = "false"


def project_root() -> Path:
    """The project's root: DVC_ROOT when DVC runs the command, else the working directory.

    Queued (`dvc exp run --queue`) and `--temp` experiments run in a temporary copy under
    .dvc/tmp/exps/ that is deleted afterwards; DVC points DVC_ROOT at the project itself.
    """
    return Path(os.environ.get("DVC_ROOT") or Path.cwd())


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else params.yaml's `tracking.uri`, else SQLite in the project root.

    So an experiment run in DVC's temporary copy logs to the project's own `mlflow.db`
    instead of one that vanishes with the copy.
    """
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or configured_uri(Path("params.yaml"))
        or f"sqlite:///{project_root() / 'mlflow.db'}"
    )


def describe_uri() -> str:
    """Which tracking server (and registry) the commands use, in words for a log.

    A URI from the environment is not shown: a CI secret, it may name a private host.
    """
    if os.environ.get("MLFLOW_TRACKING_URI") and not os.environ.get(FROM_PARAMS_ENV):
        return "the tracking server named by MLFLOW_TRACKING_URI"
    configured = configured_uri(Path("params.yaml"))
    if configured:
        return f"{configured}, from params.yaml's tracking.uri"
    return f"no tracking server configured: the SQLite store {project_root() / 'mlflow.db'}"


def client(uri: str | None = None) -> Any:
    """An MLflow client of the tracking server `uri` (default: `tracking_uri()`) and its registry.

    Both are named: a client given no registry URI follows the process-wide one, which earlier
    work in the same process may have pointed at another (or a stopped) server.
    """
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    prepare_store(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def use_server(uri: str | None = None) -> Any:
    """Point MLflow's process-wide tracking and registry URIs at `uri`; return `mlflow`.

    For MLflow's module-level calls (runs, `models:/` URIs), which resolve through both.
    """
    import mlflow

    uri = uri or tracking_uri()
    prepare_store(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def sqlite_path(uri: str) -> Path | None:
    """The database file of an SQLite store URI (`sqlite:///path`), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


_PREPARED: set[str] = set()


def prepare_store(uri: str) -> None:
    """Create an SQLite store's tables once, under a file lock, before anything uses the store.

    MLflow creates (migrates) the tables of a new SQLite file in every process that opens it
    first; processes that start together on one new file (parallel promotions, queued
    experiments) then run the same migrations at once and leave the database broken. One
    process at a time opens the store here, so the first creates the tables and the others find
    them. Servers (http://, postgresql://) migrate on their own and are left alone.
    """
    path = sqlite_path(uri)
    if path is None or uri in _PREPARED:
        return
    from filelock import FileLock
    from mlflow import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"), _quiet():
        opened = MlflowClient(tracking_uri=uri, registry_uri=uri)
        opened.search_experiments(max_results=1)
        opened.search_registered_models(max_results=1)
    _PREPARED.add(uri)


def configured_uri(params_path: Path) -> str | None:
    """`tracking.uri` of a params file, or None when absent or unset.

    Read raw, not through `load_params`: the commands that reach here have loaded (and so
    validated) their params already, and tracking must not make a stage read other sections.
    """
    try:
        raw = parse_yaml(params_path.read_text(encoding="utf-8"), str(params_path))
    except (OSError, UnicodeDecodeError, ParamsError):
        return None  # the command that loads params.yaml reports what is wrong with it
    section = raw.get("tracking") if isinstance(raw, dict) else None
    uri = section.get("uri") if isinstance(section, dict) else None
    return uri if isinstance(uri, str) and uri else None


@contextmanager
def _quiet() -> Iterator[None]:
    # MLflow narrates every run at INFO and warns about things a pipeline run cannot act on.
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _client(settings: MlflowParams) -> Any:
    embedded = not os.environ.get("MLFLOW_TRACKING_URI")  # read first: set_tracking_uri sets it
    mlflow = use_server()
    root = project_root()
    if (
        embedded
        and root.resolve() != Path.cwd().resolve()
        and mlflow.get_experiment_by_name(settings.experiment) is None
    ):
        # A new experiment keeps its artifacts under ./mlruns of the process that creates it:
        # from DVC's temporary copy, create it in the project's mlruns instead.
        mlflow.create_experiment(
            settings.experiment,
            artifact_location=(root / "mlruns" / settings.experiment).as_uri(),
        )
    mlflow.set_experiment(settings.experiment)
    return mlflow


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value}


def log_training(
    *,
    model_path: Path,
    example: pd.DataFrame,
    params: Params,
    data_files: list[Path],
    schema: FeatureSchema | None = None,
) -> str:
    """Log a fitted model with its signature, params and lineage; return the run id.

    The model is logged from its saved file at `model_path` (`logged_model`), neither
    serialised again nor loaded: the signature's input is `example`'s columns, its output one
    float64 per row (the positive class's probability, as every model of `core.model` scores).
    The model files' allow-list is recorded for MLflow's own loader; the package loads logged
    models through `model_source` only. With
    `schema`, the feature schema is stored in the model's metadata and as
    `schema.json`.
    """
    import numpy as np
    from mlflow.models import Model, infer_signature

    tags = lineage.run_tags(Path.cwd(), dvc_lock.read_lock(), data_files)
    with _quiet():
        mlflow = _client(params.mlflow)
        with mlflow.start_run(run_name="train") as run:
            mlflow.set_tags({**tags, lineage.MODEL_MD5: md5(model_path)})
            mlflow.log_params(
                {"seed": params.seed, **_flat("train", params.train.model_dump(mode="json"))}
            )
            signature = infer_signature(example, np.zeros(len(example), dtype=np.float64))
            Model.log(
                artifact_path=None,
                name="model",
                flavor=SavedSkopsFlavor(model_path),
                signature=signature,
                metadata={SCHEMA_METADATA: json.loads(schema.to_json())} if schema else None,
            )
            if schema is not None:
                mlflow.log_text(schema.to_json(), "schema.json")
            return str(run.info.run_id)


def log_evaluation(
    *,
    model_path: Path,
    example: pd.DataFrame,
    params: Params,
    data_files: list[Path],
    schema: FeatureSchema,
    metrics: dict[str, float],
    figures: list[Path],
) -> str:
    """Log metrics and figures to the run of this model file; return its id. A model that has
    no run yet is logged first, as `log_training` does (the arguments before `metrics`).

    The run is found by the model file's hash, so evaluating a model again (another threshold,
    other evaluation code) adds to its run rather than logging the model twice. The pipeline
    logs here, not in `train`: importing MLflow and opening its store (about two seconds) is
    then paid once per run of the pipeline.
    """
    model_md5 = md5(model_path)
    with _quiet():
        mlflow = _client(params.mlflow)
        found = mlflow.search_runs(
            filter_string=f"tags.`{lineage.MODEL_MD5}` = '{model_md5}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
    run_id = (
        found[0].info.run_id
        if found
        else log_training(
            model_path=model_path,
            example=example,
            params=params,
            data_files=data_files,
            schema=schema,
        )
    )
    with _quiet(), mlflow.start_run(run_id=run_id) as run:
        mlflow.log_metrics(metrics)
        for figure in figures:
            mlflow.log_artifact(str(figure), artifact_path="figures")
        return str(run.info.run_id)


def logged_schema(run_id: str) -> dict[str, Any] | None:
    """The feature schema (as JSON data) in the metadata of a run's logged model, if any."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    try:
        with _quiet():
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="model/MLmodel", tracking_uri=tracking_uri()
            )
        stored = (Model.load(path).metadata or {}).get(SCHEMA_METADATA)
    except (MlflowException, OSError):
        return None
    return stored if isinstance(stored, dict) else None


def log_model_file(
    *,
    model_file: Path,
    schema: FeatureSchema,
    tags: dict[str, str],
    settings: MlflowParams,
    run_name: str,
) -> str:
    """Log a saved skops file as it is, with its schema, in a new run tagged `tags`; return
    the run id.

    For a registry rebuilt from git: the model comes from a release, not from a training run,
    and its registry copy keeps the release file's bytes (and so its hash).
    """
    from mlflow.models import Model

    with _quiet():
        mlflow = _client(settings)
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.set_tags(tags)
            Model.log(
                artifact_path=None,
                name="model",
                flavor=SavedSkopsFlavor(model_file),
                metadata={SCHEMA_METADATA: json.loads(schema.to_json())},
            )
            mlflow.log_text(schema.to_json(), "schema.json")
            return str(run.info.run_id)
