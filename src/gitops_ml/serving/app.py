"""The online API: a FastAPI app that scores records with the champion model.

- The request schema is generated from the training `FeatureSchema` (`api_schema`), so
  validation rejects anything else with a 4xx naming the record and field.
- Concurrent requests are scored together (`batcher`).
- A new champion is picked up without a restart by polling the registry alias (pull, as the
  rest of GitOps): the new version loads in the background and replaces the old one in one
  step; requests in flight finish on the model they started with. A version whose request
  contract (feature names and kinds) differs is refused: that change is a redeploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from gitops_ml.core.params import ServeParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import model_source
from gitops_ml.infra.model_source import LoadedModel
from gitops_ml.serving import champion, scoring
from gitops_ml.serving.api_schema import (
    ErrorResponse,
    Health,
    Metadata,
    PredictResponse,
    columns_of,
    record_model,
)
from gitops_ml.serving.batcher import Batcher, NotReadyError, Served, Source
from gitops_ml.serving.records import Categories, decision_threshold, labels
from gitops_ml.serving.telemetry import DISCONNECTED, Metrics, ObserveMiddleware

log = logging.getLogger("gitops_ml.serve")

PATHS = frozenset({"/predict", "/health", "/ready", "/metadata", "/metrics"})
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "Malformed JSON."),
        (413, "Body larger than serve.max_body_bytes."),
        (415, "A Content-Type other than JSON (application/json or application/*+json)."),
        (422, "A record or field does not match the schema (loc names it)."),
        (503, "No model loaded yet."),
    )
}


class ClientGoneError(Exception):
    """The client closed the connection before sending the whole request body."""


class RejectedError(Exception):
    """A request the API refuses: its HTTP status and the problems, each with where it is."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        """Refuse with `status`, listing `errors`."""
        super().__init__(status)
        self.status, self.errors = status, errors


def _error(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        content=json.dumps(data, separators=(",", ":"), allow_nan=False),
        status_code=status,
        media_type="application/json",
    )


def _not_ready() -> Response:
    return _json({"detail": [_error([], "no model loaded yet", "not_ready")]}, 503)


def _message(problem: Any, max_records: int) -> str:
    if problem["type"] == "too_long":
        return f"at most {max_records} records per request (serve.max_records)"
    if problem["type"] == "too_short":
        return "expected at least one record"
    if problem["type"] == "extra_forbidden":
        return "unknown field; the schema has no such feature"
    if problem["type"] == "missing":
        return "field required (send null for an unknown value)"
    return str(problem["msg"])


class RequestReader:
    """Reads a /predict body within its size limit and validates it: one record or a list."""

    def __init__(self, record: type[BaseModel], settings: ServeParams) -> None:
        """Validate bodies against `record`, within the limits of `settings`."""
        self.settings = settings
        self.columns = columns_of(record)
        self.one = TypeAdapter(record)
        self.many: TypeAdapter[Any] = TypeAdapter(
            Annotated[list[record], Field(min_length=1, max_length=settings.max_records)]  # type: ignore[valid-type,arg-type]
        )

    @staticmethod
    def check_media_type(request: Request) -> None:
        """RejectedError 415 unless the body is declared JSON (or not declared at all)."""
        declared = request.headers.get("content-type")
        if declared is None:
            return
        media = declared.split(";", 1)[0].strip().lower()
        if media == "application/json" or (
            media.startswith("application/") and media.endswith("+json")
        ):
            return
        msg = f"expected a JSON body (Content-Type: application/json), got {declared!r}"
        raise RejectedError(415, [_error(["header", "content-type"], msg, "unsupported_media")])

    async def body(self, request: Request) -> bytes:
        """The request body; RejectedError 413 as soon as it exceeds the limit.

        ClientGoneError when the client disconnects before the body ends.
        """
        self.check_media_type(request)
        limit = self.settings.max_body_bytes
        too_large = RejectedError(
            413, [_error(["body"], f"body over {limit} bytes (serve.max_body_bytes)", "too_large")]
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            raise ClientGoneError from None
        return b"".join(chunks)

    def records(self, body: bytes) -> list[dict[str, Any]]:
        """The validated records; RejectedError 400 (bad JSON) or 422 (naming the field)."""
        start = body.lstrip()[:1]
        adapter = self.many if start == b"[" else self.one
        try:
            parsed = adapter.validate_json(body)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            if any(p["type"] == "json_invalid" for p in problems):
                raise RejectedError(
                    400, [_error(["body"], problems[0]["msg"], "json_invalid")]
                ) from None
            if start not in (b"[", b"{"):
                msg = "expected a JSON object (one record) or an array of records"
                raise RejectedError(422, [_error(["body"], msg, "type_error")]) from None
            limit = self.settings.max_records
            found = [_error(["body", *p["loc"]], _message(p, limit), p["type"]) for p in problems]
            raise RejectedError(422, found) from None
        repeated = _repeated_keys(body)
        if repeated:
            msg = "appears more than once in the record: send each field once"
            found = [
                _error(
                    ["body", *([i] if start == b"[" else []), k], f"{k!r} {msg}", "duplicate_key"
                )
                for i, k in repeated
            ]
            raise RejectedError(422, found)
        items = parsed if isinstance(parsed, list) else [parsed]
        names = self.columns
        return [{names[k]: v for k, v in item.__dict__.items()} for item in items]


def _repeated_keys(body: bytes) -> list[tuple[int, str]]:
    """(record index, key) of each key a record of valid JSON repeats.

    JSON parsers disagree on a repeated key (the first or the last value wins): a proxy that
    checks one and a model that scores the other is a way around any check, so the API takes
    neither. Records are flat, so objects close in record order.
    """
    found: list[tuple[int, str]] = []
    index = 0

    def hook(pairs: list[tuple[str, Any]]) -> None:
        nonlocal index
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                found.append((index, key))
            seen.add(key)
        index += 1

    json.loads(body, object_pairs_hook=hook)
    return found


class ModelService:
    """The model in service: installs a loaded model, and follows the source to newer ones."""

    def __init__(
        self,
        schema: FeatureSchema,
        source: Source,
        settings: ServeParams,
        metrics: Metrics,
        threshold: float,
    ) -> None:
        """Serve models of `schema` (the API's contract) loaded from `source`."""
        self.contract = (schema.numeric, schema.categorical)
        self.source, self.settings, self.metrics = source, settings, metrics
        self.threshold = threshold
        self.served: Served | None = None
        self.error: str | None = None

    def scorer(self, model: LoadedModel) -> scoring.Scorer:
        """The path that scores `model` (compiled unless it cannot be, or serve.engine says),
        checked at the threshold its records are labelled at."""
        used = decision_threshold(self.settings.threshold, model.threshold, self.threshold)
        return scoring.choose(model, used, self.settings.engine)

    def install(self, model: LoadedModel, scorer: scoring.Scorer | None = None) -> None:
        """Serve `model` from now on; ValueError when it takes other features than the API."""
        if (model.schema.numeric, model.schema.categorical) != self.contract:
            raise ValueError(
                f"model {model.info.name} version {model.info.version} takes other features "
                "than this server's API; deploy it with a restart"
            )
        old = self.served
        scorer = scorer or self.scorer(model)
        self.served = Served(model, Categories.of(model.schema), time.time(), scorer)
        scoring.report(scorer, f"{model.info.name} version {model.info.version}")
        self.error = None
        if old is not None:
            self.metrics.model.remove(old.model.info.name, old.model.info.version)
        self.metrics.model.labels(model.info.name, model.info.version).set(1)

    async def refresh(self) -> None:
        """Load the version the source points at now, if it is not the one served."""
        try:
            ref = await asyncio.to_thread(self.source.resolve)
            served = self.served
            if served is not None and served.model.info.version == ref.version:
                return
            model = await asyncio.to_thread(self.source.load, ref)
            # Deriving and checking the compiled path takes a moment: off the event loop.
            self.install(model, await asyncio.to_thread(self.scorer, model))
            self.metrics.reloads.labels("loaded").inc()
            log.info("serving %s version %s", ref.name, ref.version)
        except Exception as exc:  # keep serving the old model; report why on /ready
            self.metrics.reloads.labels("failed").inc()
            self.error = str(exc)
            log.error("cannot load the model: %s", exc)

    async def poll(self) -> None:
        """Refresh until cancelled: until a model loads, then every poll_seconds (if pollable)."""
        poll_seconds = self.settings.poll_seconds
        while True:
            if self.served is None or (self.source.pollable and poll_seconds > 0):
                await self.refresh()
            delay = poll_seconds if poll_seconds > 0 else 5.0
            await asyncio.sleep(delay if self.served is not None else min(delay, 5.0))


def _predict_body_schema(max_records: int) -> dict[str, Any]:
    record = {"$ref": "#/components/schemas/Record"}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        record,
                        {"type": "array", "items": record, "minItems": 1, "maxItems": max_records},
                    ]
                }
            }
        },
    }


def _threshold(served: Served, settings: ServeParams, default: float) -> float:
    return decision_threshold(settings.threshold, served.model.threshold, default)


def _add_predict(
    app: FastAPI,
    reader: RequestReader,
    batcher: Batcher,
    threshold: float,
    id_column: str | None,
) -> None:
    @app.post(
        "/predict",
        summary="Score one record or a list of records",
        response_model=PredictResponse,
        responses=ERRORS,
        openapi_extra={"requestBody": _predict_body_schema(reader.settings.max_records)},
    )
    async def predict(request: Request) -> Response:
        try:
            rows = reader.records(await reader.body(request))
            proba, served = await batcher.score(rows)
        except RejectedError as exc:
            return _json({"detail": exc.errors}, exc.status)
        except ClientGoneError:
            # Nobody is left to answer, and nothing went wrong here: one line, its own count
            # (telemetry), never a 500 that anyone could inflate by hanging up mid-body.
            request.scope[DISCONNECTED] = True
            log.info("POST /predict: the client disconnected before the body ended; ignored")
            return Response(status_code=499)
        except NotReadyError:
            return _not_ready()
        model = served.model
        used = _threshold(served, reader.settings, threshold)
        names = labels(proba, used, model.schema)
        predictions = []
        for i, rec in enumerate(rows):
            item: dict[str, Any] = {"probability": float(proba[i]), "label": str(names[i])}
            if id_column is not None and rec.get(id_column) is not None:
                item["id"] = rec[id_column]
            predictions.append(item)
        return _json(
            {
                "model_name": model.info.name,
                "model_version": model.info.version,
                "threshold": used,
                "predictions": predictions,
            }
        )


def _add_status(app: FastAPI, service: ModelService, metrics: Metrics, threshold: float) -> None:
    @app.get("/health", response_model=Health, summary="Liveness: the process answers")
    async def health() -> Health:
        return Health(status="ok")

    @app.get(
        "/ready",
        response_model=Health,
        summary="Readiness: a model is loaded",
        responses={503: {"model": Health, "description": "No model loaded yet."}},
    )
    async def ready() -> Response:
        if service.served is None:
            return _json({"status": "loading", "detail": service.error}, 503)
        return _json({"status": "ready", "detail": service.error})

    @app.get(
        "/metadata",
        response_model=Metadata,
        summary="The served model: name, version, lineage, metrics, threshold",
        responses={503: {"model": ErrorResponse, "description": "No model loaded yet."}},
    )
    async def metadata() -> Response:
        served = service.served
        if served is None:
            return _not_ready()
        info = served.model.info
        return _json(
            {
                "model_name": info.name,
                "model_version": info.version,
                "model_uri": info.uri,
                "run_id": info.run_id,
                "git_commit": info.git_commit,
                "data_hashes": dict(info.data_hashes),
                "metrics": {k: v for k, v in info.metrics.items() if math.isfinite(v)},
                "threshold": _threshold(served, service.settings, threshold),
                "schema_source": info.schema_source,
                "features": served.model.schema.features,
                "loaded_at": served.loaded_at,
                "scoring": {"engine": served.scorer.engine, "reason": served.scorer.reason},
            }
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _add_openapi(
    app: FastAPI, schema: FeatureSchema, record: type[BaseModel], max_records: int
) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=(
                    f"Predicts `{schema.target}` = `{schema.positive_label}`. "
                    f"Send one record or up to {max_records} in an array."
                ),
                routes=app.routes,
            )
            body = record.model_json_schema(ref_template="#/components/schemas/{model}")
            spec.setdefault("components", {}).setdefault("schemas", {})["Record"] = body
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    schema: FeatureSchema,
    source: Source,
    settings: ServeParams,
    threshold: float,
    initial: LoadedModel | None = None,
) -> FastAPI:
    """The API for models of `schema`; the model loads in the background unless `initial`.

    `threshold` labels records of a model that stores none, unless `settings.threshold` is set.
    """
    record = record_model(schema)
    metrics = Metrics()
    service = ModelService(schema, source, settings, metrics, threshold)
    batcher = Batcher(lambda: service.served, metrics, settings.max_batch_rows)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        if initial is not None:
            service.install(initial)
        poller = asyncio.create_task(service.poll())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await batcher.stop()

    app = FastAPI(
        title="gitops-ml model API",
        summary="Scores records with the champion model.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(ObserveMiddleware, metrics=metrics, paths=PATHS)
    _add_predict(app, RequestReader(record, settings), batcher, threshold, schema.id_column)
    _add_status(app, service, metrics, threshold)
    _add_openapi(app, schema, record, settings.max_records)
    app.state.refresh = service.refresh
    return app


def run(
    uri: str,
    *,
    host: str,
    port: int,
    settings: ServeParams,
    threshold: float,
    schema_path: Path,
    metrics_path: Path | None,
) -> None:
    """Serve the model at `uri` with uvicorn until interrupted."""
    ref = champion.resolve(uri)
    first = model_source.load(ref, schema_path=schema_path, metrics_path=metrics_path)
    source = Source(
        resolve=lambda: model_source.resolve(uri),
        load=lambda r: model_source.load(r, schema_path=schema_path, metrics_path=metrics_path),
        pollable=model_source.alias_of(uri) is not None,
    )
    app = create_app(first.schema, source, settings, threshold, initial=first)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
