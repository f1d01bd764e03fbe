"""The promotion lock: a lease on the registry that its holder renews, so a dead holder loses it.

One promotion or rollback changes a model's versions and aliases at a time. The lock is a
registered model named `<model>.lock`, which the tracking store creates atomically (names are
unique). Its tags say who holds it: a random token, the host and the process, and a heartbeat
that the holder bumps every `renew_seconds` from a background thread while it holds the lock.

A waiter takes the lock over from a holder that is gone:
- at once when the holder ran on this host and its process no longer exists (`kill -9`, a
  crash): same host means the same host name and the same kernel boot, and a process id reused
  since is told apart by its start time;
- after `lease_seconds` (LEASE_SECONDS, 30 s) without a heartbeat otherwise (a runner that
  vanished, a machine that lost power), counted on the waiter's own clock, so the clocks of two
  machines never need to agree.
Taking over is exclusive too: the waiter first creates `<model>.lock.takeover.<dead token>`
(atomic, so one waiter per dead holder), then deletes the lock if it still carries that token.
A holder checks that it still holds the lock (`ensure`) before each change that others must not
interleave with, so a holder that was frozen past its lease stops instead of racing its taker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from gitops_ml.core.errors import ConcurrentChangeError, RegistryError
from gitops_ml.infra.tracking import client

LEASE_SECONDS = 30.0
RENEW_SECONDS = 5.0
HEARTBEAT = "heartbeat"
log = logging.getLogger("gitops_ml.lease")


def _host() -> str:
    # Containers on one machine share its kernel boot but not their process ids; each has a
    # host name of its own, which is why both are part of it.
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}" if boot else socket.gethostname()


def _started(pid: int) -> str:
    """When process `pid` started, as the kernel counts it ('' where /proc does not say)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: count fields after it.
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock."""

    token: str
    host: str
    pid: int
    started: str
    who: str

    @classmethod
    def this_process(cls) -> Holder:
        """This process, with a fresh token."""
        who = os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
        run = os.environ.get("GITHUB_RUN_ID")
        pid = os.getpid()
        described = f"{who}@{socket.gethostname()} pid {pid}" + (f" run {run}" if run else "")
        return cls(uuid.uuid4().hex, _host(), pid, _started(pid), described)

    def tags(self) -> dict[str, str]:
        """The holder as the lock's tags."""
        return {
            "token": self.token,
            "host": self.host,
            "pid": str(self.pid),
            "started": self.started,
            "holder": self.who,
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Holder:
        """The holder a lock's tags describe (a lock of an earlier release has fewer tags)."""
        pid = tags.get("pid", "")
        return cls(
            token=tags.get("token", ""),
            host=tags.get("host", ""),
            pid=int(pid) if pid.isdigit() else 0,
            started=tags.get("started", ""),
            who=tags.get("holder", "unknown"),
        )

    def gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        if self.host != _host() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # it exists, under another user
        started = _started(self.pid)
        return bool(self.started and started and started != self.started)


class Lease:
    """The promotion lock of one registered model, held as a renewed lease."""

    def __init__(
        self,
        model: str,
        tracking_uri: str,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
    ) -> None:
        """The lock of `model` in the registry at `tracking_uri`."""
        self.model = model
        self.name = f"{model}.lock"
        self.uri = tracking_uri
        self.client = client(tracking_uri)
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.holder = Holder.this_process()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lost = False

    # ------------------------------------------------------------------ reading the lock

    def _read(self) -> tuple[Holder, str] | None:
        """The current holder and heartbeat, or None when nobody holds the lock."""
        try:
            tags = dict(self.client.get_registered_model(self.name).tags or {})
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return Holder.from_tags(tags), tags.get(HEARTBEAT, "")

    def _create(self, name: str, tags: dict[str, str], description: str) -> bool:
        try:
            self.client.create_registered_model(name, tags=tags, description=description)
        except MlflowException as exc:
            # Taken; or taken and released while MLflow read it back to say so, in which case
            # it reports the model as missing: either way this call did not create it.
            if exc.error_code in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                return False
            raise
        return True

    def _delete(self, name: str) -> None:
        try:
            self.client.delete_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise

    # ------------------------------------------------------------------ acquiring

    def acquire(self, timeout: float, poll: float = 0.25) -> None:
        """Take the lock, waiting up to `timeout` s and taking it over from a dead holder."""
        deadline = time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        since = time.monotonic()
        description = f"Promotion lock of {self.model}; deleted when released (a lease)."
        while True:
            if self._create(self.name, {**self.holder.tags(), HEARTBEAT: "0"}, description):
                self._start_renewing()
                return
            current = self._read()
            if current is None:
                continue  # released in between: try again at once
            holder, heartbeat = current
            now = time.monotonic()
            if (holder.token, heartbeat) != seen:
                seen, since = (holder.token, heartbeat), now
            if holder.gone():
                self._take_over(holder, f"its process {holder.pid} on this host is gone")
                continue
            if now - since >= self.lease_seconds:
                self._take_over(holder, f"no heartbeat for {self.lease_seconds:.0f} s")
                continue
            if now >= deadline:
                raise RegistryError(
                    f"registry model {self.model!r}: promotion lock held by {holder.who} for "
                    f"more than {timeout:.0f} s, renewing its lease (a holder that dies loses "
                    f"it after {self.lease_seconds:.0f} s without a heartbeat, or at once on "
                    "the same host)"
                )
            time.sleep(poll)

    def _take_over(self, dead: Holder, why: str) -> None:
        ticket = f"{self.name}.takeover.{dead.token or 'none'}"
        if not self._create(ticket, {"by": self.holder.who}, f"Taking over {self.name}."):
            time.sleep(0.05)  # another waiter is taking over from the same holder
            return
        try:
            current = self._read()
            if current is not None and current[0].token == dead.token:
                self._delete(self.name)
                log.warning(
                    "took over the promotion lock of %s from %s: %s", self.model, dead.who, why
                )
        finally:
            self._delete(ticket)

    # ------------------------------------------------------------------ holding

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="lease-renewal", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        # Its own client: MLflow's clients are not meant to be shared across threads.
        renewing: Any = client(self.uri)
        beat = 0
        while not self._stop.wait(self.renew_seconds):
            beat += 1
            try:
                tags = renewing.get_registered_model(self.name).tags or {}
                if tags.get("token") != self.holder.token:
                    self._lost = True
                    return
                renewing.set_registered_model_tag(self.name, HEARTBEAT, str(beat))
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    self._lost = True
                    return
            except Exception:  # a registry that does not answer for a moment: beat again later
                continue  # the waiters allow a whole lease without a heartbeat

    def ensure(self) -> None:
        """Raise ConcurrentChangeError unless this process still holds the lock."""
        current = self._read()
        if self._lost or current is None or current[0].token != self.holder.token:
            self._lost = True
            raise ConcurrentChangeError(
                f"registry model {self.model!r}: this command lost its promotion lock (it "
                f"renewed no lease for {self.lease_seconds:.0f} s and another process took "
                "it over); nothing more was changed, run it again"
            )

    def release(self) -> None:
        """Stop renewing and delete the lock, if it is still this process's."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        current = self._read()
        if current is not None and current[0].token == self.holder.token:
            self._delete(self.name)
