"""Where a model to score with comes from: a local `.skops` file or an MLflow model URI, and
the one way either is loaded.

The one place that tells the two apart (a path ending in .skops is a model file; anything else,
a URI with a scheme such as models:/ or runs:/ or a local MLflow model directory, is MLflow's)
and loads either; serving, batch scoring, monitoring, promotion and rollback all load their
model here, and every load goes through the allow-list of `model_files`.

An MLflow model is read from its skops file alone: its MLmodel must declare the sklearn flavor
serialized with skops. A pickle or cloudpickle flavor is refused, never read, and MLflow's own
loader (which follows whatever the MLmodel declares, and trusts the types the MLmodel itself
lists) is never called; pickle deserialization is switched off for MLflow in the process too.
A registered version's file must hash to the SHA-256 recorded when `promote` registered it.

A model comes with the feature schema it was trained on (the contract of the API and of batch
scoring: names, kinds, categories and the two labels), its decision threshold and its lineage
(version, git commit, data hashes, metrics), which `/metadata` reports. A registered version
carries all of it itself, so it serves the same from any store, whether or not that store holds
its training run: the schema in its model's MLmodel metadata, the threshold, metrics and lineage
in its tags (`promote` writes both). For other MLflow models (and versions registered by earlier
releases) the schema is read from the model's metadata, else the run's `schema.json`, else
derived from the logged signature (names and types, no categories or labels); their metrics and
lineage from the run.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_ml.core.errors import ModelError, UserError
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import git, lineage
from gitops_ml.infra.files import md5, sha256_bytes
from gitops_ml.infra.model_files import load_model, load_model_bytes
from gitops_ml.infra.tracking import (
    SCHEMA_METADATA,
    client,
    forbid_pickle,
    tracking_uri,
    use_server,
)

# MLflow (over a second to import) is imported inside the functions that load from it: serving
# or scoring a model file needs none of it.

# A scheme of two letters or more (models:/, runs:/, s3://, file:///): a drive letter is a path.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_RUN = re.compile(r"^runs:/(?P<run>[^/]+)/(?P<path>.+)$")
_NUMERIC_TYPES = {"double", "float", "long", "integer"}
log = logging.getLogger("gitops_ml.model_source")


@dataclass(frozen=True)
class ModelRef:
    """One concrete model: an alias is resolved to the version it points at."""

    uri: str
    name: str
    version: str
    run_id: str | None = None
    registered: bool = False  # a registry version: its file's hash is checked
    sha256: str | None = None  # recorded when it was registered (None: registered before that)
    tags: dict[str, str] = field(default_factory=dict)  # a registry version's own tags


@dataclass(frozen=True)
class Fetched:
    """A model read from MLflow: the fitted pipeline, its MLmodel metadata and its file's hash."""

    pipeline: Any
    meta: Any
    sha256: str


@dataclass(frozen=True)
class ModelInfo:
    """Where a served model came from, as `/metadata` reports it."""

    name: str
    version: str
    uri: str
    run_id: str | None
    git_commit: str | None
    data_hashes: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    schema_source: str = "schema.json"


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline with its schema, lineage and the threshold stored with it (if any)."""

    pipeline: Any
    schema: FeatureSchema
    info: ModelInfo
    sha256: str | None = None  # of the skops file it was loaded from: what derived forms key on
    threshold: float | None = None


def is_local_file(source: str) -> bool:
    """True for a model file written by `train` (a .skops path), False for an MLflow model."""
    return _URI.match(source) is None and source.endswith(".skops")


def alias_of(uri: str) -> tuple[str, str] | None:
    """(model name, alias) of a `models:/name@alias` URI, else None."""
    found = _ALIAS.match(uri)
    return (found["name"], found["alias"]) if found else None


def resolve(uri: str) -> ModelRef:
    """Pin a URI to one model version (an alias is looked up in the registry once)."""
    if is_local_file(uri):
        path = _model_file(uri)
        return ModelRef(uri=str(path), name=path.stem, version=f"md5:{md5(path)[:12]}")
    from mlflow.exceptions import MlflowException

    try:
        if alias := _ALIAS.match(uri):
            found = client().get_model_version_by_alias(alias["name"], alias["alias"])
            return _version_ref(found)
        if version := _VERSION.match(uri):
            return _version_ref(client().get_model_version(version["name"], version["version"]))
    except MlflowException as exc:
        raise ModelError(f"{uri}: no such model in the registry: {exc.message}") from None
    if run := _RUN.match(uri):
        return ModelRef(uri=uri, name=run["path"], version=run["run"], run_id=run["run"])
    return ModelRef(uri=uri, name=uri.rstrip("/").rsplit("/", 1)[-1], version=uri)


def _model_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    return path


def _version_ref(found: Any) -> ModelRef:
    return ModelRef(
        uri=f"models:/{found.name}/{found.version}",
        name=str(found.name),
        version=str(found.version),
        run_id=found.run_id or None,
        registered=True,
        sha256=(found.tags or {}).get(lineage.ARTIFACT_SHA256),
        tags=dict(found.tags or {}),
    )


def load(ref: ModelRef, *, schema_path: Path, metrics_path: Path | None = None) -> LoadedModel:
    """Load the model `ref` points at, with its schema and lineage.

    `schema_path` and `metrics_path` are used for a local `.skops` file only; an MLflow model
    carries its own.
    """
    if is_local_file(ref.uri):
        return _load_file(ref, schema_path, metrics_path)
    return _load_mlflow(ref)


def load_estimator(source: str) -> Any:
    """Only the fitted model of a file or URI, without its schema or lineage."""
    return load_scoring(source).pipeline


@dataclass(frozen=True)
class ScoringModel:
    """A fitted model with what a registered version says about its own scores (monitoring)."""

    pipeline: Any
    threshold: float | None = None  # the version's decision threshold, when it carries one
    metrics: dict[str, float] = field(default_factory=dict)  # its held-out metrics, if known


def load_scoring(source: str) -> ScoringModel:
    """The fitted model of a file or URI; for a registry version, also the threshold and the
    held-out metrics it was registered with (its run's, for versions that carry none)."""
    if is_local_file(source):
        return ScoringModel(load_model(_model_file(source)))
    ref = resolve(source)
    pipeline = _fetch_ref(ref).pipeline
    if not ref.registered:
        return ScoringModel(pipeline)
    metrics = lineage.metrics(ref.tags) or _run_metrics(_run(ref.run_id))
    return ScoringModel(pipeline, _threshold(ref), metrics)


def _load_file(ref: ModelRef, schema_path: Path, metrics_path: Path | None) -> LoadedModel:
    if not schema_path.is_file():
        raise UserError(
            f"{schema_path}: schema not found; a local model needs the schema.json written "
            "by `prepare` (pass --schema)"
        )
    schema = FeatureSchema.read(schema_path)
    metrics: dict[str, float] = {}
    if metrics_path is not None and metrics_path.is_file():
        raw = json.loads(metrics_path.read_text(encoding="utf-8"))
        metrics = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
    data = {
        f"{lineage.DATA_PREFIX}{p.as_posix()}": md5(p)
        for p in (schema_path.parent / "train.parquet", schema_path.parent / "test.parquet")
        if p.is_file()
    }
    info = ModelInfo(
        name=ref.name,
        version=ref.version,
        uri=ref.uri,
        run_id=None,
        git_commit=git.head_commit(Path(ref.uri).resolve().parent),
        data_hashes=data,
        metrics=metrics,
        schema_source=str(schema_path),
    )
    content = _model_file(ref.uri).read_bytes()
    pipeline = load_model_bytes(content, ref.uri)
    return LoadedModel(pipeline=pipeline, schema=schema, info=info, sha256=sha256_bytes(content))


def fetch(uri: str, expected_sha256: str | None = None) -> Fetched:
    """The model an MLflow URI names, read from its skops file through the allow-list.

    With `expected_sha256`, the file must have that hash (the one recorded at registration).
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    forbid_pickle()
    # models:/ URIs resolve through MLflow's process-wide registry URI, which earlier work in
    # the process may have pointed elsewhere: point it (and the tracking URI) at ours.
    use_server(tracking_uri())
    try:
        # The download is read into memory and removed: reloads must not pile up copies.
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="gitops-ml-") as tmp:
            warnings.simplefilter("ignore")
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, tracking_uri=tracking_uri(), dst_path=tmp
            )
            meta = Model.load(local)
            data = _skops_bytes(Path(local), meta, uri)
    except (MlflowException, OSError) as exc:
        raise ModelError(f"{uri}: cannot load the model from {tracking_uri()}: {exc}") from None
    digest = sha256_bytes(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelError(
            f"{uri}: refusing to load: its file's SHA-256 is {digest}, not the "
            f"{expected_sha256} recorded when it was registered (the artifact changed since)"
        )
    return Fetched(pipeline=load_model_bytes(data, uri), meta=meta, sha256=digest)


def _skops_bytes(root: Path, meta: Any, uri: str) -> bytes:
    """The bytes of a logged model's skops file, refusing every other serialization."""
    flavor = (meta.flavors or {}).get("sklearn")
    if not isinstance(flavor, dict):
        found = sorted(meta.flavors or {})
        raise ModelError(
            f"{uri}: not a scikit-learn model logged by `gitops-ml train` (flavors {found}); "
            "refusing to load it"
        )
    kind = flavor.get("serialization_format")
    if kind != "skops":
        raise ModelError(
            f"{uri}: the model is serialized as {kind!r}: refusing to unpickle it (loading a "
            "pickle can run any code); only skops model files are loaded, log it again with "
            "`gitops-ml train`"
        )
    name = flavor.get("pickled_model")
    path = (root / str(name)).resolve()
    if not isinstance(name, str) or not path.is_relative_to(root.resolve()) or not path.is_file():
        raise ModelError(f"{uri}: its MLmodel names no model file inside the model ({name!r})")
    return path.read_bytes()


def _fetch_ref(ref: ModelRef) -> Fetched:
    """Fetch a resolved model, checking a registry version's hash (legacy versions: warn)."""
    fetched = fetch(ref.uri, ref.sha256)
    if ref.registered and ref.sha256 is None:
        log.warning(
            "%s: no artifact hash was recorded when version %s was registered (an earlier "
            "release): loaded through the type allow-list only; the next `gitops-ml promote` "
            "records it",
            ref.uri,
            ref.version,
        )
    return fetched


def _load_mlflow(ref: ModelRef) -> LoadedModel:
    fetched = _fetch_ref(ref)
    pipeline, meta = fetched.pipeline, fetched.meta
    run_id = ref.run_id or meta.run_id
    schema, source = _schema(meta, run_id)
    # A version registered by `promote` carries its lineage and metrics itself; the run is read
    # only for what the version lacks (versions of earlier releases, models outside the registry).
    own = ref.tags
    run = None if lineage.read(own, lineage.COMMIT) and lineage.metrics(own) else _run(run_id)
    run_tags: dict[str, str] = dict(run.data.tags) if run else {}
    info = ModelInfo(
        name=ref.name,
        version=ref.version,
        uri=ref.uri,
        run_id=run_id,
        git_commit=lineage.read(own, lineage.COMMIT) or lineage.read(run_tags, lineage.COMMIT),
        data_hashes=lineage.data_hashes(own) or lineage.data_hashes(run_tags),
        metrics=lineage.metrics(own) or _run_metrics(run),
        schema_source=source,
    )
    return LoadedModel(
        pipeline=pipeline,
        schema=schema,
        info=info,
        sha256=fetched.sha256,
        threshold=_threshold(ref),
    )


def _threshold(ref: ModelRef) -> float | None:
    value = ref.tags.get(lineage.THRESHOLD)
    if value is None:
        return None
    try:
        found = float(value)
    except ValueError:
        found = float("nan")
    if not 0 < found < 1:
        raise ModelError(
            f"{ref.uri}: its tag {lineage.THRESHOLD} is {value!r}; expected a probability "
            "strictly between 0 and 1"
        )
    return found


def _run_metrics(run: Any) -> dict[str, float]:
    """The metrics logged to a run (the pipeline's evaluate logs them); none without a run."""
    return {k: float(v) for k, v in run.data.metrics.items()} if run else {}


def _run(run_id: str | None) -> Any:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return client().get_run(run_id)
    except MlflowException:
        return None


def _schema(meta: Any, run_id: str | None) -> tuple[FeatureSchema, str]:
    stored = (meta.metadata or {}).get(SCHEMA_METADATA)
    if stored:
        return FeatureSchema.from_json(json.dumps(stored)), "model metadata"
    if run_id:
        text = _run_schema(run_id)
        if text is not None:
            return FeatureSchema.from_json(text), "run artifact schema.json"
    if meta.signature is not None:
        log.warning(
            "the model carries no feature schema: derived from its signature, so labels are "
            "1/0 and unseen categories are not counted; register it with `gitops-ml promote`"
        )
        return schema_from_signature(meta.signature), "model signature"
    raise ModelError(
        "the model carries no feature schema (metadata, schema.json or signature); "
        "log it with `gitops-ml train`"
    )


def _run_schema(run_id: str) -> str | None:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="schema.json", tracking_uri=tracking_uri()
        )
    except (MlflowException, OSError):
        return None
    return Path(path).read_text(encoding="utf-8")


def schema_from_signature(signature: Any) -> FeatureSchema:
    """A schema from an MLflow signature: numeric and text columns, no known categories."""
    numeric: list[str] = []
    categorical: list[str] = []
    for spec in signature.inputs.inputs:
        kind = str(getattr(spec.type, "name", spec.type))
        (numeric if kind in _NUMERIC_TYPES else categorical).append(spec.name)
    return FeatureSchema(
        target="target",
        positive_label="1",
        negative_label="0",
        numeric=tuple(numeric),
        categorical=tuple(categorical),
    )
