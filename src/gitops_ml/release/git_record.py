"""The registry's record in git: what GTO's tags and a release carry so the registry can be rebuilt.

Without a tracking server the MLflow store is a file in a cache that can be evicted; the tags on
`origin` and the GitHub Releases are what lasts. So every tag `promote` and `rollback` write ends
with trailers (`Key: value` lines in the message's last paragraph, as in commit messages) that
name the registry's own numbers, and a release carries, beside the model file and its card, the
version's manifest (`version.json`): its feature schema and every tag it carries in the registry.

- a registration `<model>@vX.Y.Z`: `Registry-Version` (the registry's version number),
  `Model-SHA256` (of the released model file) and `Manifest-SHA256` (of `version.json`), so a
  release's files are checked against git before anything in them is used;
- an assignment `<model>#prod#N`: `Registry-Action` (promote or rollback), `Registry-Version`
  and `Registry-From` (the champion it replaced).

The record is read through GTO (`gto.api.history`); registrations by earlier releases, without
trailers, still give their number from the model card's title.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import gto.api

from gitops_ml.core.errors import RegistryError
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import git, lineage
from gitops_ml.release.git_tags import STAGE
from gitops_ml.release.registry import ModelRegistry

VERSION_KEY = "Registry-Version"
MODEL_KEY = "Model-SHA256"
MANIFEST_KEY = "Manifest-SHA256"
ACTION_KEY = "Registry-Action"
FROM_KEY = "Registry-From"
MODEL_ASSET = "model.skops"
MANIFEST_ASSET = "version.json"
CARD_ASSET = "model_card.md"
MANIFEST_FORMAT = 1
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")
_CARD_TITLE = re.compile(r"^# Model card: .* v(\d+)\s*$", re.MULTILINE)


def with_trailers(message: str, trailers: dict[str, str]) -> str:
    """`message` with a last paragraph of `Key: value` trailers."""
    lines = [f"{key}: {value}" for key, value in trailers.items()]
    return f"{message.rstrip()}\n\n" + "\n".join(lines) + "\n"


def split_trailers(message: str) -> tuple[str, dict[str, str]]:
    """The message without its trailers, and the trailers (empty when it has none)."""
    text = message.rstrip()
    head, _, last = text.rpartition("\n\n")
    found = [_TRAILER.match(line) for line in last.splitlines()]
    if not last or not all(found):
        return message, {}
    return head + "\n", {m.group(1): m.group(2).strip() for m in found if m}


@dataclass(frozen=True)
class RecordedVersion:
    """A registered version as its GTO registration tag records it."""

    number: str
    tag: str
    commit: str
    card: str
    model_sha256: str | None
    manifest_sha256: str | None


@dataclass(frozen=True)
class Assignment:
    """One `<model>#prod#N` tag: a promotion or a rollback, in the order N gives."""

    tag: str
    order: int
    version: str
    action: str
    replaced: str | None
    reason: str
    commit: str
    at: str


@dataclass(frozen=True)
class GitRecord:
    """Every version and production assignment of one model that origin's tags record."""

    versions: dict[str, RecordedVersion] = field(default_factory=dict)
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def champion(self) -> str | None:
        """The version the latest assignment put in production."""
        return self.assignments[-1].version if self.assignments else None


def read(repo: Path, name: str) -> GitRecord:
    """The record of model `name` in the tags of `repo` (fetch them from origin first)."""
    if git.top_level(repo) is None:
        return GitRecord()  # no repository, no tags: nothing is recorded
    events = gto.api.history(str(repo), name, ascending=True)
    versions: dict[str, RecordedVersion] = {}
    by_commit: dict[str, str] = {}
    for event in events:
        if event["event"] != "registration":
            continue
        card, trailers = split_trailers(event["message"] or "")
        number = trailers.get(VERSION_KEY) or _card_number(card)
        if number is None:
            continue  # not registered by `promote`: nothing to rebuild from
        versions[number] = RecordedVersion(
            number=number,
            tag=str(event["ref"]),
            commit=str(event["commit"]),
            card=card,
            model_sha256=trailers.get(MODEL_KEY),
            manifest_sha256=trailers.get(MANIFEST_KEY),
        )
        by_commit[str(event["commit"])] = number
    assignments = [a for e in events if (a := _assignment(e, by_commit, name)) is not None]
    assignments.sort(key=lambda a: a.order)
    return GitRecord(versions=dict(sorted(versions.items(), key=lambda kv: int(kv[0]))),
                     assignments=assignments)  # fmt: skip


def _card_number(card: str) -> str | None:
    found = _CARD_TITLE.search(card)
    return found.group(1) if found else None


def _assignment(event: dict[str, Any], by_commit: dict[str, str], name: str) -> Assignment | None:
    if event["event"] != "assignment" or event["stage"] != STAGE:
        return None
    tag = str(event["ref"])
    order = tag.rpartition("#")[2]
    text, trailers = split_trailers(event["message"] or "")
    version = trailers.get(VERSION_KEY) or by_commit.get(str(event["commit"]))
    if version is None or not order.isdigit():
        return None
    subject = text.splitlines()[0] if text else ""
    guessed = "rollback" if subject.startswith("Rollback") else "promote"  # an earlier release's
    return Assignment(
        tag=tag,
        order=int(order),
        version=version,
        action=trailers.get(ACTION_KEY) or guessed,
        replaced=trailers.get(FROM_KEY) or None,
        reason=subject.partition(": ")[2] or subject,
        commit=str(event["commit"]),
        at=event["timestamp"].astimezone(UTC).isoformat(timespec="seconds"),
    )


def check_against_tags(repo: Path, reg: ModelRegistry) -> None:
    """RegistryError when the store lacks a version that origin's GTO tags record (see below)."""
    record = read(repo, reg.name)
    if record.versions:
        stored = {v.version: lineage.read(v.tags, lineage.COMMIT) or "" for v in reg.versions()}
        check_store(record, {**left_out(record, reg.not_in_git()), **stored}, reg.name, reg.uri)


def left_out(record: GitRecord, not_in_git: dict[str, str]) -> dict[str, str]:
    """Version → commit of the versions a rebuild left out (git holds no copy of their model)."""
    return {
        number: version.commit
        for number, version in record.versions.items()
        if not_in_git.get(number) == version.tag
    }


def in_git(version: RecordedVersion) -> bool:
    """Whether git pins a copy of the version's model: its release's files, by their hashes."""
    return version.model_sha256 is not None and version.manifest_sha256 is not None


def missing_from(
    record: GitRecord, stored: dict[str, str], name: str, uri: str
) -> list[RecordedVersion]:
    """The versions the tags record that the store lacks, each newer than every one it holds.

    `stored` maps each version the store holds to its commit. A store that lacks only versions
    newer than its own (a new store, an evicted cache, a cache saved before a later run) can be
    brought up to date from git; RegistryError for one that is not the store the tags were
    written with: a version at another commit, or a version missing below one it holds.
    """
    for number, version in record.versions.items():
        if number in stored and stored[number] != version.commit:
            raise RegistryError(
                f"the registry at {uri} holds v{number} of {name!r} built at "
                f"{stored[number][:12]}, but origin's tag {version.tag} records v{number} at "
                f"{version.commit[:12]}: this store is not the one the tags were written with"
            )
    missing = [v for n, v in record.versions.items() if n not in stored]
    newest = max((int(n) for n in stored), default=0)
    below = [v for v in missing if int(v.number) < newest]
    if below:
        raise RegistryError(
            f"the registry at {uri} holds v{newest} of {name!r} but not v{below[0].number}, "
            f"which origin's tag {below[0].tag} records: this store is not the one the tags "
            "were written with (was a version deleted by hand?)"
        )
    return missing


def check_store(record: GitRecord, stored: dict[str, str], name: str, uri: str) -> None:
    """RegistryError unless the store holds every version the tags record, at its commit.

    A store that lost the model (a new store, an evicted cache) or lags the tags (a cache saved
    before a later promotion) would otherwise number a version again and judge it against a
    champion other than the one git says is in production.
    """
    missing = missing_from(record, stored, name, uri)
    if missing and not stored:
        numbers = ", ".join(f"v{v.number}" for v in record.versions.values())
        raise RegistryError(
            f"the registry at {uri} holds no version of {name!r}, but origin's GTO tags record "
            f"{numbers}: the store was lost (a new store, or an evicted cache). Rebuild it from "
            "the tags and the releases' model files with `gitops-ml registry --rebuild`, or "
            "point MLFLOW_TRACKING_URI at the registry that holds them"
        )
    if missing:
        numbers = ", ".join(f"v{v.number}" for v in missing)
        raise RegistryError(
            f"the registry at {uri} lacks {numbers} of {name!r}, which origin's tags record "
            f"({missing[0].tag} first): the store is older than the tags (a cache saved before "
            "a later run). Add them from the tags and the releases' model files with "
            "`gitops-ml registry --rebuild`, or point MLFLOW_TRACKING_URI at the registry "
            "that holds them"
        )


# Version tags that are not part of a version's manifest: its registry copy's hash and the
# bookkeeping of its promotion, which a rebuild writes anew.
def manifest_tags(tags: dict[str, str], bookkeeping: set[str]) -> dict[str, str]:
    """The tags of a version that its manifest carries."""
    skipped = {lineage.ARTIFACT_SHA256, *bookkeeping}
    return {k: v for k, v in sorted(tags.items()) if k not in skipped}


def manifest(name: str, version: str, tags: dict[str, str], schema: FeatureSchema) -> bytes:
    """The manifest of a released version: the same bytes for the same version, every time."""
    data = {
        "format": MANIFEST_FORMAT,
        "model": name,
        "version": version,
        "schema": json.loads(schema.to_json()),
        "tags": dict(sorted(tags.items())),
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Manifest:
    """A release's `version.json`, read back."""

    model: str
    version: str
    schema: FeatureSchema
    tags: dict[str, str]


def parse_manifest(data: bytes, where: str) -> Manifest:
    """The manifest in `data`; RegistryError naming `where` when it is not one."""
    try:
        raw = json.loads(data)
        if raw.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, expected {MANIFEST_FORMAT}")
        return Manifest(
            model=str(raw["model"]),
            version=str(raw["version"]),
            schema=FeatureSchema.from_json(json.dumps(raw["schema"])),
            tags={str(k): str(v) for k, v in raw["tags"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryError(
            f"{where}: not a version manifest written by `promote` ({exc})"
        ) from None
