"""Scoring concurrent requests together: while the model scores one batch, new requests queue
and go into the next model call. A model call costs nearly the same for 1 row as for 100, so
throughput grows with load and an idle server adds no delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from gitops_ml.infra.model_source import LoadedModel, ModelRef
from gitops_ml.serving.records import Categories, columns_from_records
from gitops_ml.serving.scoring import Scorer
from gitops_ml.serving.telemetry import Metrics


class NotReadyError(Exception):
    """No model is loaded yet."""


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
    categories: Categories
    loaded_at: float
    scorer: Scorer


class Batcher:
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
        """Start scoring queued requests (inside the app's event loop)."""
        self._queue = asyncio.Queue()
        _single_threaded()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the scoring task."""
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

    def _score(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, Served]:
        served = self._current()
        if served is None:
            raise NotReadyError
        columns = columns_from_records(rows, served.model.schema)
        proba = served.scorer.proba(columns)
        self._metrics.batch_rows.observe(len(rows))
        self._metrics.records.inc(len(rows))
        for value in proba:
            self._metrics.scores.observe(float(value))
        for feature, count in served.categories.unseen(columns).items():
            self._metrics.unseen.labels(feature).inc(count)
        return proba, served


def _single_threaded() -> None:
    # Model calls run one at a time and single-threaded: OpenMP fan-out on a few rows costs
    # more than it saves, above all on shared CPUs.
    threadpool_limits(limits=1)
    # Records are validated (finite numbers, known fields) before they reach the model, so the
    # per-call re-checks can go; scikit-learn's config is per thread, the loop's only.
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
