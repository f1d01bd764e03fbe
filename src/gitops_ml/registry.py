"""The only code that writes to a registry: MLflow Model Registry versions, aliases and history,
and GTO's annotated git tags.

Concurrency: every change to a model's aliases happens while holding a registry-wide lock, a
registered model named `<name>.lock` that MLflow creates atomically (its name is unique in the
tracking store), so two promotions never interleave. Inside the lock the champion is re-read
and moved only if it still is the version the decision was made against (compare-and-set).
Git tags are pushed before aliases move; a push rejected by `origin` aborts with nothing moved.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
STAGE = "prod"
SHA_TAG = "git_sha"
EVENT_PREFIX = "event."


class ConcurrentChangeError(UserError):
    """The registry changed between reading and writing; nothing was moved."""


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
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise UserError(f"MLflow registry at {uri}: {exc.message}") from None


def _holder() -> str:
    who = os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{who}@{socket.gethostname()} pid {os.getpid()}" + (f" run {run}" if run else "")


class ModelRegistry:
    """Versions, aliases and event history of one registered model in MLflow."""

    def __init__(self, name: str, tracking_uri: str) -> None:
        """Connect to the registry at `tracking_uri` for model `name`."""
        from gitops_ml.tracking import client

        self.name = name
        self.uri = tracking_uri
        self.client = client(tracking_uri)

    def _exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    @contextmanager
    def lock(self, timeout: float = 300.0, poll: float = 0.25) -> Iterator[None]:
        """Hold the model's promotion lock; wait up to `timeout` seconds for it."""
        from mlflow.exceptions import MlflowException

        name = f"{self.name}.lock"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.create_registered_model(
                    name,
                    tags={"holder": _holder(), "acquired_at": str(time.time())},
                    description=f"Promotion lock of {self.name}; deleted when released.",
                )
                break
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            if time.monotonic() >= deadline:
                holder = self._lock_holder(name)
                raise UserError(
                    f"registry model {self.name!r}: promotion lock held by {holder} for more "
                    f"than {timeout:.0f} s; if no promotion is running, delete the registered "
                    f"model {name!r} to release it"
                )
            time.sleep(poll)
        try:
            yield
        finally:
            self.client.delete_registered_model(name)

    def _lock_holder(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_registered_model(name).tags.get("holder", "unknown"))
        except MlflowException:
            return "a process that has just released it"

    def versions(self) -> list[Version]:
        """Every version of the model, oldest first."""
        if not self._exists():
            return []
        found = self.client.search_model_versions(f"name = '{self.name}'", max_results=10_000)
        return sorted((_version(mv) for mv in found), key=lambda v: int(v.version))

    def get(self, version: str) -> Version:
        """One version; a clear error naming the known versions when it does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return _version(self.client.get_model_version(self.name, version))
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
        known = ", ".join(v.version for v in self.versions()) or "none"
        raise UserError(
            f"registry model {self.name!r} has no version {version!r} (versions: {known})"
        )

    def find_by_commit(self, commit: str) -> Version | None:
        """The version registered for a git commit, if any (the idempotency key)."""
        if not self._exists():
            return None
        found = self.client.search_model_versions(
            f"name = '{self.name}' and tags.{SHA_TAG} = '{commit}'"
        )
        return _version(min(found, key=lambda mv: int(mv.version))) if found else None

    def register(self, run_id: str, tags: dict[str, str]) -> Version:
        """Create a new version from a run's logged model, tagged with its lineage."""
        import io
        import logging
        import warnings
        from contextlib import redirect_stderr

        from gitops_ml.tracking import use_server

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
        self.set_alias(f"{CHAMPION}-v{new}", new)
        self.set_alias(CHAMPION, new)

    def tag(self, version: str, tags: dict[str, str]) -> None:
        """Set tags on a version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def describe(self, version: str, text: str) -> None:
        """Set a version's description (the model card)."""
        self.client.update_model_version(self.name, version, description=text)

    def record_event(self, event: dict[str, Any]) -> None:
        """Append an event (promotion, rejection, rollback) to the model's history."""
        number = len(self.events()) + 1
        self.client.set_registered_model_tag(
            self.name, f"{EVENT_PREFIX}{number:05d}", json.dumps(event, sort_keys=True)
        )

    def events(self) -> list[dict[str, Any]]:
        """The model's history of events, oldest first."""
        if not self._exists():
            return []
        tags = self.client.get_registered_model(self.name).tags or {}
        keys = sorted(k for k in tags if k.startswith(EVENT_PREFIX))
        return [json.loads(tags[k]) for k in keys]

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """Attach a text file to a version's run."""
        self.client.log_text(run_id, text, path)

    def download_model(self, version: str, dest: Path) -> Path:
        """Download a version's model and return the path of its skops file."""
        import io
        from contextlib import redirect_stderr

        import mlflow

        with redirect_stderr(io.StringIO()):  # a progress bar per file
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.name}/{version}",
                dst_path=str(dest),
                tracking_uri=self.uri,
            )
        found = sorted(Path(local).rglob("*.skops"))
        if not found:
            raise UserError(f"registry model {self.name!r} v{version}: no .skops model file")
        return found[0]


# --- git tags in GTO's format -------------------------------------------------------------


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )


def has_origin(repo: Path) -> bool:
    """True when the repository has a remote named origin."""
    return _git(repo, "remote", "get-url", "origin").returncode == 0


def fetch_tags(repo: Path) -> None:
    """Bring local tags up to date with origin (another promotion may have pushed some)."""
    if has_origin(repo):
        done = _git(repo, "fetch", "--quiet", "--tags", "--force", "origin")
        if done.returncode != 0:
            raise UserError(f"git fetch --tags origin failed: {done.stderr.strip()}")


def commit_exists(repo: Path, commit: str) -> bool:
    """True when the commit is in the local repository."""
    return _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _push(repo: Path, tag: str) -> None:
    if not has_origin(repo):
        return
    done = _git(repo, "push", "--quiet", "origin", f"refs/tags/{tag}")
    if done.returncode != 0:
        # Leave no local tag that origin refused: the next run starts from origin's state.
        _git(repo, "tag", "-d", tag)
        raise UserError(
            f"git push origin {tag} was rejected (did another promotion push first?): "
            f"{done.stderr.strip()}"
        )


def gto_version(repo: Path, name: str, commit: str) -> str | None:
    """The GTO version (vX.Y.Z) registered at a commit, if any."""
    from gto.registry import GitRegistry

    with GitRegistry.from_url(str(repo)) as reg:
        found = reg.find_artifact(name, create_new=True).find_version(commit_hexsha=commit)
    return None if found is None else str(found.version)


def gto_register(repo: Path, name: str, commit: str, message: str) -> str:
    """Tag `<name>@vX.Y.Z` on a commit (once per commit) and push it; return the version."""
    import gto.api
    from gto.registry import GitRegistry

    existing = gto_version(repo, name, commit)
    if existing is not None:
        return existing
    with GitRegistry.from_url(str(repo)) as reg:
        latest = reg.find_artifact(name, create_new=True).get_latest_version(registered_only=True)
    event = gto.api.register(
        str(repo),
        name,
        ref=commit,
        version=None if latest else "v1.0.0",
        bump_minor=latest is not None,
        message=message,
    )
    _push(repo, event.tag)
    return str(event.version)


def gto_assign(repo: Path, name: str, version: str, message: str) -> str:
    """Tag `<name>#prod#N` assigning a registered version to production; push it."""
    import gto.api

    event = gto.api.assign(str(repo), name, STAGE, version=version, message=message, force=True)
    _push(repo, event.tag)
    return str(event.tag)
