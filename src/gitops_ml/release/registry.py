"""The MLflow Model Registry of one model: versions, aliases, history, and the promotion lock.

The only code that writes to MLflow's registry (`git_tags` writes the GTO tags in git, `lease`
the lock).

Concurrency: every change to a model's aliases happens while holding its promotion lock, a
lease (`lease.py`) that a dead holder loses, so two promotions never interleave. Inside the lock
the champion is re-read and moved only if it still is the version the decision was made against
(compare-and-set). Git tags are pushed before aliases move; a push rejected by `origin` aborts
with nothing moved. Every write can be repeated: a command killed between two of them and run
again finishes the job without duplicating a version, an alias move or an event.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from gitops_ml.core.errors import ConcurrentChangeError, ModelError, RegistryError
from gitops_ml.infra import failpoints, lineage, model_source
from gitops_ml.infra.tracking import client, use_server
from gitops_ml.release.lease import LEASE_SECONDS, Lease

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
EVENT_PREFIX = "event."
# Version tags of the registry's own bookkeeping: the decision (set last, it marks the version
# as fully processed), the decision as made before anything moved (a rerun after a crash that
# had already moved the alias finishes with it), and the GTO tags made for it.
DECISION_TAG = "gitops_ml.decision"
PENDING_TAG = "gitops_ml.decision.pending"
GTO_TAGS = "gto.tags"
# A version a rebuild from git registered: the registration tag it came from. A number git does
# not record (a rejected version) is kept by a registration deleted at once, tagged GAP_TAG.
REBUILT_TAG = "gitops_ml.rebuilt_from"
GAP_TAG = "gitops_ml.rebuild_gap"
# On the registered model while a rebuild runs: a rerun after a crash resumes it.
REBUILDING_TAG = "gitops_ml.rebuilding"
# On the registered model, + a version's number: a version origin's tags record but a rebuild
# could not restore, since git holds no copy of its model (its tag, the value, records no release
# files); its number is used up, and the store knows it is gone.
NOT_IN_GIT_PREFIX = "gitops_ml.not_in_git."


@dataclass(frozen=True)
class Version:
    """One registered model version, as the commands need it."""

    version: str
    run_id: str | None
    tags: dict[str, str]
    description: str
    created: int


def _version(mv: Any) -> Version:
    return Version(
        version=str(mv.version),
        run_id=mv.run_id,
        tags=dict(mv.tags or {}),
        description=mv.description or "",
        created=int(mv.creation_timestamp or 0),
    )


@contextmanager
def errors_named(uri: str) -> Iterator[None]:
    """Turn MLflow's errors (server down, refused request) into one message naming the URI."""
    try:
        yield
    except MlflowException as exc:
        raise RegistryError(f"MLflow registry at {uri}: {exc.message}") from None


def now() -> str:
    """The current time, as the registry's history records it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelRegistry:
    """Versions, aliases and event history of one registered model in MLflow."""

    def __init__(self, name: str, tracking_uri: str) -> None:
        """Connect to the registry at `tracking_uri` for model `name`."""
        self.name = name
        self.uri = tracking_uri
        self.client = client(tracking_uri)

    def _exists(self) -> bool:
        try:
            self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    @contextmanager
    def lock(self, timeout: float = 300.0, lease_seconds: float = LEASE_SECONDS) -> Iterator[Lease]:
        """Hold the model's promotion lock, a lease; wait up to `timeout` seconds for it."""
        lease = Lease(self.name, self.uri, lease_seconds=lease_seconds)
        lease.acquire(timeout)
        try:
            yield lease
        finally:
            lease.release()

    def versions(self) -> list[Version]:
        """Every version of the model, oldest first."""
        if not self._exists():
            return []
        found = self.client.search_model_versions(f"name = '{self.name}'", max_results=10_000)
        return sorted((_version(mv) for mv in found), key=lambda v: int(v.version))

    def get(self, version: str) -> Version:
        """One version; a clear error naming the known versions when it does not exist."""
        try:
            return _version(self.client.get_model_version(self.name, version))
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
        known = ", ".join(v.version for v in self.versions()) or "none"
        raise RegistryError(
            f"registry model {self.name!r} has no version {version!r} (versions: {known})"
        )

    def find_by_commit(self, commit: str) -> Version | None:
        """The version registered for a git commit, if any (the idempotency key)."""
        if not self._exists():
            return None
        found = [
            mv
            for tag in lineage.names_of(lineage.COMMIT)
            for mv in self.client.search_model_versions(
                f"name = '{self.name}' and tags.`{tag}` = '{commit}'"
            )
        ]
        return _version(min(found, key=lambda mv: int(mv.version))) if found else None

    def register(self, run_id: str, tags: dict[str, str]) -> Version:
        """Create a new version from a run's logged model, tagged with its lineage.

        Not idempotent (MLflow always creates a version): callers look the commit up first.
        """
        mlflow = use_server(self.uri)
        logger = logging.getLogger("mlflow")
        level = logger.level
        logger.setLevel(logging.ERROR)  # MLflow narrates the registration at INFO/WARNING
        try:
            # It also prints its progress straight to stderr.
            with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                mv = mlflow.register_model(f"runs:/{run_id}/model", self.name, tags=tags)
        finally:
            logger.setLevel(level)
        return _version(mv)

    def aliases(self) -> dict[str, str]:
        """Alias → version of the model (empty before the first registration)."""
        if not self._exists():
            return {}
        model = self.client.get_registered_model(self.name)
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def set_alias(self, alias: str, version: str) -> None:
        """Point an alias at a version."""
        self.client.set_registered_model_alias(self.name, alias, version)

    def move_champion(self, expected: str | None, new: str) -> None:
        """Make `new` champion if the champion still is `expected`; keep the replaced one.

        The replaced champion gets `previous-champion`; every champion keeps a permanent
        `champion-v<N>` alias, so no former champion is ever lost.
        """
        current = self.aliases().get(CHAMPION)
        if current != expected:
            raise ConcurrentChangeError(
                f"registry model {self.name!r}: champion changed from v{expected} to "
                f"v{current} during this command; nothing was moved, run it again"
            )
        if expected is not None:
            self.set_alias(PREVIOUS, expected)
            failpoints.reached("previous-alias")
        self.set_alias(f"{CHAMPION}-v{new}", new)
        failpoints.reached("champion-version-alias")
        self.set_alias(CHAMPION, new)
        failpoints.reached("champion-alias")

    def tag(self, version: str, tags: dict[str, str]) -> None:
        """Set tags on a version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def describe(self, version: str, text: str) -> None:
        """Set a version's description (the model card)."""
        self.client.update_model_version(self.name, version, description=text)

    def record_event(self, event: dict[str, Any]) -> None:
        """Append an event (promotion, rejection, rollback) to the model's history, once.

        When the last event already records the same action, version, commit and previous
        champion (a rerun after a crash that came after recording it), nothing is added.
        """
        past = self.events()
        key = ("action", "version", "commit", "from")
        if past and all(past[-1].get(k) == event.get(k) for k in key):
            return
        self.client.set_registered_model_tag(
            self.name, f"{EVENT_PREFIX}{len(past) + 1:05d}", json.dumps(event, sort_keys=True)
        )

    def events(self) -> list[dict[str, Any]]:
        """The model's history of events, oldest first."""
        if not self._exists():
            return []
        tags = self.client.get_registered_model(self.name).tags or {}
        keys = sorted(k for k in tags if k.startswith(EVENT_PREFIX))
        return [json.loads(tags[k]) for k in keys]

    def rebuilding(self) -> bool:
        """Whether a rebuild from git started on this store and has not finished."""
        if not self._exists():
            return False
        return REBUILDING_TAG in (self.client.get_registered_model(self.name).tags or {})

    def mark_rebuilding(self, running: bool) -> None:
        """Mark a rebuild from git as started (creating the model) or finished."""
        if running:
            if not self._exists():
                self.client.create_registered_model(self.name)
            self.client.set_registered_model_tag(self.name, REBUILDING_TAG, now())
        else:
            self.client.delete_registered_model_tag(self.name, REBUILDING_TAG)

    def not_in_git(self) -> dict[str, str]:
        """Version → its registration tag, for each version a rebuild found git holds no copy of."""
        if not self._exists():
            return {}
        tags = self.client.get_registered_model(self.name).tags or {}
        return {
            k.removeprefix(NOT_IN_GIT_PREFIX): v
            for k, v in tags.items()
            if k.startswith(NOT_IN_GIT_PREFIX)
        }

    def note_not_in_git(self, version: str, tag: str) -> None:
        """Record that a rebuild left out `version`, whose model git holds no copy of."""
        self.client.set_registered_model_tag(self.name, f"{NOT_IN_GIT_PREFIX}{version}", tag)

    def delete(self, version: str) -> None:
        """Delete a version; the store never gives its number again."""
        self.client.delete_model_version(self.name, version)

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """Attach a text file to a version's run."""
        self.client.log_text(run_id, text, path)

    def read_back(self, version: Version, step: str) -> Any:
        """A version's model read from the registry: its hash checked, or recorded if it has none.

        Loaded through the allow-list (`model_source`). A version registered before hashes were
        recorded gets its hash now, after its file has loaded (`step` names the failpoint
        after recording it).
        """
        recorded = version.tags.get(lineage.ARTIFACT_SHA256)
        try:
            fetched = model_source.fetch(f"models:/{self.name}/{version.version}", recorded)
        except ModelError as exc:
            raise ModelError(f"registry model {self.name!r} v{version.version}: {exc}") from None
        if recorded is None:
            self.tag(version.version, {lineage.ARTIFACT_SHA256: fetched.sha256})
            failpoints.reached(step)
        return fetched.pipeline
