"""The online API: a FastAPI app that scores records with the champion model.

- The request schema is generated from the training `FeatureSchema`, so OpenAPI documents
  every field, its type and its known categories, and validation rejects anything else
  with a 4xx naming the record and field.
- Concurrent requests are scored together (adaptive micro-batching): while the model scores
  one batch, new requests queue and go into the next model call. A model call costs nearly
  the same for 1 row as for 100, so throughput grows with load and an idle server adds no delay.
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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    create_model,
)

from gitops_ml import scoring
from gitops_ml.loading import LoadedModel, ModelRef
from gitops_ml.params import ServeParams
from gitops_ml.schema import FeatureSchema

log = logging.getLogger("gitops_ml.serve")

# Numeric inputs beyond this magnitude are refused: real features never get there, and
# scaling such values can overflow to infinity, which the estimators reject.
MAX_ABS = 1e15
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---------------------------------------------------------------- request and response models


def record_model(schema: FeatureSchema) -> type[BaseModel]:
    """The pydantic model of one record: every feature required (null = missing), no others."""
    fields: dict[str, Any] = {}
    for col in schema.numeric:
        low, high = schema.ranges.get(col, (None, None))
        seen = f" Seen in training: {low:g} to {high:g}." if low is not None else ""
        fields[col] = (
            float | None,
            Field(
                ...,
                strict=True,
                allow_inf_nan=False,
                ge=-MAX_ABS,
                le=MAX_ABS,
                description=f"Numeric feature; null if unknown.{seen}",
                examples=[low] if low is not None else None,
            ),
        )
    for col in schema.categorical:
        known = schema.categories.get(col, [])
        listed = f" Known categories: {', '.join(repr(c) for c in known)}." if known else ""
        fields[col] = (
            str | None,
            Field(
                ...,
                strict=True,
                description=(
                    f"Categorical feature; null if unknown.{listed} "
                    "Other values are scored as unseen and counted."
                ),
                examples=known[:1] or None,
                json_schema_extra={"x-known-categories": list[Any](known)} if known else None,
            ),
        )
    if schema.id_column and schema.id_column not in fields:
        fields[schema.id_column] = (
            StrictStr | StrictInt | None,
            Field(default=None, description="Record id, echoed in the response."),
        )
    config = ConfigDict(extra="forbid", allow_inf_nan=False, title="Record")
    model: type[BaseModel] = create_model("Record", __config__=config, **fields)
    return model


class Prediction(BaseModel):
    """The score of one record."""

    probability: float = Field(description="Probability of the positive label.")
    label: str = Field(
        description="The positive label when probability ≥ threshold, else the negative."
    )
    id: str | int | None = Field(default=None, description="The record's id, when it sent one.")


class PredictResponse(BaseModel):
    """Predictions in request order, and the model that made them."""

    model_name: str
    model_version: str
    threshold: float
    predictions: list[Prediction]


class ErrorItem(BaseModel):
    """One problem with a request: where (body, record index, field) and what was expected."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """A rejected request."""

    detail: list[ErrorItem]


class Status(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: str | None = None


class Metadata(BaseModel):
    """The served model and where it came from."""

    model_name: str
    model_version: str
    model_uri: str
    run_id: str | None
    git_commit: str | None
    data_hashes: dict[str, str]
    metrics: dict[str, float]
    threshold: float
    schema_source: str
    features: list[str]
    loaded_at: float


# ---------------------------------------------------------------- metrics


class Metrics:
    """Prometheus metrics of one app, in a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gitops_ml_requests",
            "HTTP requests by path and status code.",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gitops_ml_request_latency_seconds",
            "Time to answer a request.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Histogram(
            "gitops_ml_score",
            "Predicted probability of the positive label.",
            buckets=SCORE_BUCKETS,
            registry=self.registry,
        )
        self.records = Counter(
            "gitops_ml_records_scored", "Records scored.", registry=self.registry
        )
        self.unseen = Counter(
            "gitops_ml_unseen_category",
            "Categorical values never seen in training, by feature.",
            ["feature"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "gitops_ml_batch_rows",
            "Rows per model call (concurrent requests are scored together).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.reloads = Counter(
            "gitops_ml_model_reloads",
            "Attempts to load a new champion, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.model = Gauge(
            "gitops_ml_model_info",
            "The served model version (value 1).",
            ["name", "version"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The exposition text."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _Observe:
    """ASGI middleware counting requests by path and status, and timing them."""

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: frozenset[str]) -> None:
        self.app, self.metrics, self.paths = app, metrics, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            # Unknown paths share one label so that scanners cannot blow up the series count.
            path = scope["path"] if scope["path"] in self.paths else "other"
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


# ---------------------------------------------------------------- the model and its batcher


@dataclass(frozen=True)
class Source:
    """Where the app gets its model: `resolve` pins the current version, `load` loads one."""

    resolve: Callable[[], ModelRef]
    load: Callable[[ModelRef], LoadedModel]
    pollable: bool


@dataclass(frozen=True)
class Served:
    """The model in service and what is precomputed for it."""

    model: LoadedModel
    categories: scoring.Categories
    loaded_at: float


class _Batcher:
    """Scores queued requests together in one model call, on the event loop's thread.

    The model call blocks the loop on purpose: requests arriving meanwhile wait in the socket
    buffers, are all read when it returns, and go together into the next call. A worker thread
    would instead fight the loop for the GIL on every request and pay two thread hand-offs.
    """

    def __init__(self, current: Callable[[], Served | None], metrics: Metrics, max_rows: int):
        self._current, self._metrics, self._max_rows = current, metrics, max_rows
        self._queue: asyncio.Queue[tuple[list[dict[str, Any]], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        _single_threaded()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def score(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, Served]:
        """Probabilities for `records` and the model that scored them."""
        assert self._queue is not None, "the app's lifespan has not started"
        future: asyncio.Future[tuple[np.ndarray, Served]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait((records, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let requests read in the same loop turn queue up too
            rows = len(batch[0][0])
            while rows < self._max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                batch.append(item)
                rows += len(item[0])
            records = [r for recs, _ in batch for r in recs]
            try:
                proba, served = self._score(records)
            except Exception as exc:  # a model failure fails the requests, not the batcher
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for recs, future in batch:
                if not future.done():
                    future.set_result((proba[start : start + len(recs)], served))
                start += len(recs)

    def _score(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, Served]:
        served = self._current()
        if served is None:
            raise _NotReadyError
        schema = served.model.schema
        frame = scoring.frame_from_records(records, schema)
        proba = scoring.probabilities(served.model.pipeline, frame)
        self._metrics.batch_rows.observe(len(records))
        self._metrics.records.inc(len(records))
        for value in proba:
            self._metrics.scores.observe(float(value))
        for feature, count in served.categories.unseen(frame).items():
            self._metrics.unseen.labels(feature).inc(count)
        return proba, served


def _single_threaded() -> None:
    import sklearn
    from threadpoolctl import threadpool_limits

    # Model calls run one at a time and single-threaded: OpenMP fan-out on a few rows costs
    # more than it saves, above all on shared CPUs.
    threadpool_limits(limits=1)
    # Records are validated (finite numbers, known fields) before they reach the model, so the
    # per-call re-checks can go; scikit-learn's config is per thread, the loop's only.
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)


class _NotReadyError(Exception):
    pass


class _RejectedError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
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


# ---------------------------------------------------------------- the app


@dataclass
class _State:
    served: Served | None = None
    error: str | None = None


def create_app(
    schema: FeatureSchema,
    source: Source,
    settings: ServeParams,
    threshold: float,
    initial: LoadedModel | None = None,
) -> FastAPI:
    """The API for models of `schema`; the model loads in the background unless `initial`."""
    record = record_model(schema)
    one = TypeAdapter(record)
    many: TypeAdapter[Any] = TypeAdapter(
        Annotated[list[record], Field(min_length=1, max_length=settings.max_records)]  # type: ignore[valid-type,arg-type]
    )
    metrics = Metrics()
    state = _State()
    contract = (schema.numeric, schema.categorical)
    batcher = _Batcher(lambda: state.served, metrics, settings.max_batch_rows)

    def install(model: LoadedModel) -> None:
        if (model.schema.numeric, model.schema.categorical) != contract:
            raise ValueError(
                f"model {model.info.name} version {model.info.version} takes other features "
                "than this server's API; deploy it with a restart"
            )
        old = state.served
        state.served = Served(model, scoring.Categories.of(model.schema), time.time())
        state.error = None
        if old is not None:
            metrics.model.remove(old.model.info.name, old.model.info.version)
        metrics.model.labels(model.info.name, model.info.version).set(1)

    async def refresh() -> None:
        """Load the version the source points at now, if it is not the one served."""
        try:
            ref = await asyncio.to_thread(source.resolve)
            served = state.served
            if served is not None and served.model.info.version == ref.version:
                return
            install(await asyncio.to_thread(source.load, ref))
            metrics.reloads.labels("loaded").inc()
            log.info("serving %s version %s", ref.name, ref.version)
        except Exception as exc:  # keep serving the old model; report why on /ready
            metrics.reloads.labels("failed").inc()
            state.error = str(exc)
            log.error("cannot load the model: %s", exc)

    async def poll() -> None:
        while True:
            if state.served is None or (source.pollable and settings.poll_seconds > 0):
                await refresh()
            delay = settings.poll_seconds if settings.poll_seconds > 0 else 5.0
            await asyncio.sleep(delay if state.served is not None else min(delay, 5.0))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        if initial is not None:
            install(initial)
        poller = asyncio.create_task(poll())
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
    paths = frozenset({"/predict", "/health", "/ready", "/metadata", "/metrics"})
    app.add_middleware(_Observe, metrics=metrics, paths=paths)
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": text}
        for code, text in (
            (400, "Malformed JSON."),
            (413, "Body larger than serve.max_body_bytes."),
            (422, "A record or field does not match the schema (loc names it)."),
            (503, "No model loaded yet."),
        )
    }

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        too_large = _RejectedError(
            413, [_error(["body"], f"body over {limit} bytes (serve.max_body_bytes)", "too_large")]
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def parse(body: bytes) -> list[dict[str, Any]]:
        start = body.lstrip()[:1]
        adapter: TypeAdapter[Any] = many if start == b"[" else one
        try:
            parsed = adapter.validate_json(body)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            if any(p["type"] == "json_invalid" for p in problems):
                raise _RejectedError(
                    400, [_error(["body"], problems[0]["msg"], "json_invalid")]
                ) from None
            if start not in (b"[", b"{"):
                msg = "expected a JSON object (one record) or an array of records"
                raise _RejectedError(422, [_error(["body"], msg, "type_error")]) from None
            limit = settings.max_records
            found = [_error(["body", *p["loc"]], _message(p, limit), p["type"]) for p in problems]
            raise _RejectedError(422, found) from None
        items = parsed if isinstance(parsed, list) else [parsed]
        return [item.__dict__ for item in items]

    @app.post(
        "/predict",
        summary="Score one record or a list of records",
        response_model=PredictResponse,
        responses=errors,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Record"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Record"},
                                    "minItems": 1,
                                    "maxItems": settings.max_records,
                                },
                            ]
                        }
                    }
                },
            }
        },
    )
    async def predict(request: Request) -> Response:
        try:
            records = parse(await read_body(request))
            proba, served = await batcher.score(records)
        except _RejectedError as exc:
            return _json({"detail": exc.errors}, exc.status)
        except _NotReadyError:
            return _json({"detail": [_error([], "no model loaded yet", "not_ready")]}, 503)
        model = served.model
        names = scoring.labels(proba, threshold, model.schema)
        id_column = schema.id_column
        predictions = []
        for i, rec in enumerate(records):
            item: dict[str, Any] = {"probability": float(proba[i]), "label": str(names[i])}
            if id_column is not None and rec.get(id_column) is not None:
                item["id"] = rec[id_column]
            predictions.append(item)
        return _json(
            {
                "model_name": model.info.name,
                "model_version": model.info.version,
                "threshold": threshold,
                "predictions": predictions,
            }
        )

    @app.get("/health", response_model=Status, summary="Liveness: the process answers")
    async def health() -> Status:
        return Status(status="ok")

    @app.get(
        "/ready",
        response_model=Status,
        summary="Readiness: a model is loaded",
        responses={503: {"model": Status, "description": "No model loaded yet."}},
    )
    async def ready() -> Response:
        if state.served is None:
            return _json({"status": "loading", "detail": state.error}, 503)
        return _json({"status": "ready", "detail": state.error})

    @app.get(
        "/metadata",
        response_model=Metadata,
        summary="The served model: name, version, lineage, metrics, threshold",
        responses={503: {"model": ErrorResponse, "description": "No model loaded yet."}},
    )
    async def metadata() -> Response:
        served = state.served
        if served is None:
            return _json({"detail": [_error([], "no model loaded yet", "not_ready")]}, 503)
        info = asdict(served.model.info)
        return _json(
            {
                "model_name": info["name"],
                "model_version": info["version"],
                "model_uri": info["uri"],
                "run_id": info["run_id"],
                "git_commit": info["git_commit"],
                "data_hashes": info["data_hashes"],
                "metrics": {k: v for k, v in info["metrics"].items() if np.isfinite(v)},
                "threshold": threshold,
                "schema_source": info["schema_source"],
                "features": served.model.schema.features,
                "loaded_at": served.loaded_at,
            }
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=(
                    f"Predicts `{schema.target}` = `{schema.positive_label}`. "
                    f"Send one record or up to {settings.max_records} in an array."
                ),
                routes=app.routes,
            )
            body = record.model_json_schema(ref_template="#/components/schemas/{model}")
            spec.setdefault("components", {}).setdefault("schemas", {})["Record"] = body
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.refresh = refresh
    return app


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
    import uvicorn

    from gitops_ml import loading

    ref = loading.resolve(uri)
    first = loading.load(ref, schema_path=schema_path, metrics_path=metrics_path)
    source = Source(
        resolve=lambda: loading.resolve(uri),
        load=lambda r: loading.load(r, schema_path=schema_path, metrics_path=metrics_path),
        pollable=loading.alias_of(uri) is not None,
    )
    app = create_app(first.schema, source, settings, threshold, initial=first)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
