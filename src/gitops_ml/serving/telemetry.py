"""What the API tells Prometheus: requests, latency, scores, unseen categories, reloads, and
clients that hung up before sending their request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
# Set in a request's scope by a handler whose client disconnected mid-request: counted apart.
DISCONNECTED = "gitops_ml.disconnected"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """Prometheus metrics of one app, in a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
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
        self.disconnects = Counter(
            "gitops_ml_client_disconnects",
            "Requests whose client disconnected before sending the whole body (not answered).",
            ["path"],
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
        return bytes(generate_latest(self.registry))


class ObserveMiddleware:
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
            if scope.get(DISCONNECTED):
                self.metrics.disconnects.labels(path).inc()
            else:
                self.metrics.requests.labels(path, str(status)).inc()
                self.metrics.latency.labels(path).observe(time.perf_counter() - start)
