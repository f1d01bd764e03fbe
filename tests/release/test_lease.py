"""The promotion lock is a lease: a dead holder loses it, a live one keeps it, one holder at a time.

Against a real SQLite tracking store; holders are real processes or in-process leases.
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitops_ml.core.errors import ConcurrentChangeError, RegistryError
from gitops_ml.release.lease import HEARTBEAT, Holder, Lease
from gitops_ml.release.registry import ModelRegistry


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite tracking store, named in the environment as the commands read it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return uri


def _hold_and_die(uri: str, model: str) -> None:
    """A process that takes the lock and is killed while holding it."""
    code = (
        "import os, signal\n"
        "from gitops_ml.release.lease import Lease\n"
        f"Lease({model!r}, {uri!r}).acquire(timeout=30)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()


@pytest.mark.slow  # a process of its own, importing MLflow
def test_a_holder_killed_on_this_host_loses_the_lock_at_once(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A `kill -9`ed holder's lock is taken over without waiting for its lease to run out."""
    _hold_and_die(store, "churn")
    reg = ModelRegistry("churn", store)
    held = reg.client.get_registered_model("churn.lock").tags
    assert held["holder"].endswith(f"pid {held['pid']}")
    caplog.set_level(logging.WARNING, logger="gitops_ml")
    # A lease far longer than the wait: only the dead process can explain getting the lock.
    with reg.lock(timeout=5, lease_seconds=3600):
        pass
    assert f"process {held['pid']} on this host is gone" in caplog.text


def _foreign_lock(uri: str, model: str) -> None:
    """A lock held by a process on another machine, which renews nothing (it died there)."""
    elsewhere = Holder("dead-token", "runner-elsewhere/boot", 4242, "1", "ci@runner pid 4242")
    reg = ModelRegistry(model, uri)
    reg.client.create_registered_model(f"{model}.lock", tags={**elsewhere.tags(), HEARTBEAT: "7"})


def test_a_holder_on_another_host_loses_the_lock_after_its_lease(store: str) -> None:
    """A holder elsewhere that stopped renewing keeps the lock for a lease, then loses it."""
    _foreign_lock(store, "churn")
    reg = ModelRegistry("churn", store)
    held = pytest.raises(RegistryError, match=r"held by ci@runner pid 4242 for more than 1 s")
    with held, reg.lock(timeout=1, lease_seconds=30):
        pass  # pragma: no cover
    with reg.lock(timeout=30, lease_seconds=1):
        tags = reg.client.get_registered_model("churn.lock").tags
        assert tags["token"] != "dead-token"


def test_a_live_holder_that_renews_keeps_the_lock(store: str) -> None:
    """A holder whose heartbeat moves is never taken over, however long it holds the lock."""
    holder = Lease("churn", store, lease_seconds=0.5, renew_seconds=0.1)
    holder.acquire(timeout=5)
    try:
        waiter = Lease("churn", store, lease_seconds=0.5)
        with pytest.raises(RegistryError, match="promotion lock held by"):
            waiter.acquire(timeout=2)  # four leases long
        holder.ensure()  # still held
    finally:
        holder.release()
    assert ModelRegistry("churn", store).client.search_registered_models() == []


def test_a_holder_whose_lock_was_taken_over_stops(store: str) -> None:
    """A holder frozen past its lease finds the lock gone before its next change."""
    frozen = Lease("churn", store, lease_seconds=0.3, renew_seconds=3600)
    frozen.acquire(timeout=5)
    taker = Lease("churn", store, lease_seconds=0.3)
    taker.acquire(timeout=10)
    with pytest.raises(ConcurrentChangeError, match="lost its promotion lock"):
        frozen.ensure()
    frozen.release()  # leaves the taker's lock alone
    taker.ensure()
    taker.release()


def test_waiters_for_a_dead_holder_take_the_lock_one_at_a_time(store: str) -> None:
    """Several waiters find the same dead holder: one takes over, the others wait their turn;
    no two hold the lock at once."""
    _foreign_lock(store, "churn")
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            lease = Lease("churn", store, lease_seconds=1)
            lease.acquire(timeout=60, poll=0.05)
            start = time.monotonic()
            time.sleep(0.3)
            spans.append((start, time.monotonic()))
            lease.release()
        except BaseException as exc:  # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(spans) == 4
    ordered = sorted(spans)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered))


def test_a_lock_released_while_mlflow_reports_it_taken_is_taken_again(store: str) -> None:
    """When the lock is released between MLflow's failed insert and its read-back of the lock,
    MLflow reports it missing (not taken); the waiter tries again instead of failing."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    lease = Lease("churn", store)
    create = lease.client.create_registered_model
    calls: list[str] = []

    def racing(name: str, **kwargs: object) -> object:
        calls.append(name)
        if len(calls) == 1:  # what MLflow raises in that race, after its insert failed
            raise MlflowException(f"Registered Model with name={name} not found",
                                  error_code=RESOURCE_DOES_NOT_EXIST)  # fmt: skip
        return create(name, **kwargs)

    lease.client.create_registered_model = racing
    lease.acquire(timeout=5)
    lease.ensure()
    lease.release()
    assert calls == ["churn.lock", "churn.lock"]
