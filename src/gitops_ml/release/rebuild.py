"""Rebuild a lost registry from git: versions, aliases and history from origin's GTO tags, each
model from the files its GitHub Release carries.

Without a tracking server the registry is an SQLite file kept in the Actions cache; when the
cache is evicted, the next job starts with a store that holds none of the model (`promote` and
`rollback` refuse to work on it, `git_record.check_against_tags`). This puts back every version
the tags record, under its own number, so numbering continues and the champion is the one git
says is in production:

- each registration tag names its version and the SHA-256 of its release's model file and
  manifest (`git_record`); both files are downloaded and checked against those hashes, the
  manifest must name the same model, version and commit, and the model file loads only
  through the allow-list (`infra/model_files`); then it is logged to a new run with its schema
  and registered with the manifest's tags (lineage, threshold, metrics, decision), its card as
  description, and read back so its registry copy's hash is recorded as for any version;
- numbers that git does not record (rejected versions, whose models were never released) are
  taken by a registration deleted at once, as the store never gives a number twice;
- the `#prod#N` assignments, in order, give `champion`, `previous-champion`, the
  `champion-v<N>` aliases and the history of promotions and rollbacks.

A store that lags the tags (a cache saved before a later promotion) gets the versions it lacks
the same way, when they are all newer than its own, and the history the events it lacks; a store
that holds every version the tags record is left alone; one that disagrees with them (a version
at another commit, one missing below a version it holds) is refused. It can be killed at any
point and run again: it resumes (the registered model carries `REBUILDING_TAG` until it ends, a
version it registered `REBUILT_TAG`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops_ml.core.errors import RegistryError
from gitops_ml.core.params import Params
from gitops_ml.infra import failpoints, lineage, tracking
from gitops_ml.infra.files import sha256_bytes
from gitops_ml.infra.model_files import load_model_bytes
from gitops_ml.release import git_record, git_tags, registry, release_assets
from gitops_ml.release.git_record import GitRecord, Manifest, RecordedVersion
from gitops_ml.release.registry import (
    CHALLENGER,
    CHAMPION,
    GAP_TAG,
    GTO_TAGS,
    PREVIOUS,
    REBUILT_TAG,
    ModelRegistry,
)

Download = Callable[[str, list[str], Path], None]


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the versions it registered and the champion it restored."""

    restored: list[str]
    champion: str | None
    note: str


def rebuild(repo: Path, params: Params, download: Download = release_assets.download) -> Rebuilt:
    """Rebuild the registry of `registry.model_name` from origin's tags, if the store lost it."""
    uri = tracking.tracking_uri()
    with registry.errors_named(uri):
        return _rebuild(repo, params, ModelRegistry(params.registry.model_name, uri), download)


def _rebuild(repo: Path, params: Params, reg: ModelRegistry, download: Download) -> Rebuilt:
    git_tags.fetch_tags(repo)
    record = git_record.read(repo, reg.name)
    if not record.versions:
        return Rebuilt([], None, "origin's tags record no version: nothing to rebuild")
    with reg.lock():
        resuming = reg.rebuilding()
        present = reg.versions()
        # Versions an earlier rebuild registered from the tag that records their number; with
        # a rebuild to resume, any other version it registered is a gap it did not give up.
        held = {
            v.version: v
            for v in present
            if (recorded := record.versions.get(v.version)) is not None
            and v.tags.get(REBUILT_TAG) == recorded.tag
        }
        strays = {
            v.version
            for v in present
            if resuming and REBUILT_TAG in v.tags and v.version not in held
        }
        own = {
            v.version: lineage.read(v.tags, lineage.COMMIT) or ""
            for v in present
            if v.version not in strays
        }
        stored = {**git_record.left_out(record, reg.not_in_git()), **own}
        missing = git_record.missing_from(record, stored, reg.name, reg.uri)
        if not missing and not resuming:
            champion = reg.aliases().get(CHAMPION)
            return Rebuilt([], champion, "the registry holds every version the tags record")
        _check_champion_in_git(record, stored)
        reg.mark_rebuilding(True)
        for number in sorted(strays, key=int):
            reg.delete(number)
        unfinished = [v for n, v in record.versions.items() if n in held] if resuming else []
        restored: list[str] = []
        for recorded in sorted([*unfinished, *missing], key=lambda v: int(v.number)):
            if not git_record.in_git(recorded):
                reg.note_not_in_git(recorded.number, recorded.tag)
                continue  # its number is used up by the next registration, or below
            version = held.get(recorded.number) or _register(reg, params, recorded, download)
            _finish(reg, version, recorded, record)
            restored.append(recorded.number)
        _use_up_numbers(reg, record)
        champion = _aliases_and_history(reg, record)
        reg.mark_rebuilding(False)
    before = [n for n in own if n not in held]  # versions the store held before any rebuild
    note = (
        "brought up to date from origin's tags and the releases' files"
        if before
        else "rebuilt from origin's tags and the releases' files"
    )
    left = sorted(set(record.versions) - set(stored) - set(restored), key=int)
    if left:
        note += f"; left out {', '.join(f'v{n}' for n in left)} (git holds no copy of its model)"
    return Rebuilt(restored, champion, note)


def _check_champion_in_git(record: GitRecord, stored: dict[str, str]) -> None:
    """RegistryError before anything is written when the champion cannot be rebuilt."""
    champion = record.champion
    recorded = record.versions.get(champion) if champion else None
    if recorded is None or recorded.number in stored or git_record.in_git(recorded):
        return
    raise RegistryError(
        f"origin's tags make v{recorded.number} champion ({record.assignments[-1].tag}), but "
        f"git holds no copy of its model: its tag {recorded.tag} records no release files (it "
        "was registered by an earlier release of gitops-ml, or by `rollback --to` of a version "
        "never released), so the registry cannot be rebuilt around it; point "
        "MLFLOW_TRACKING_URI at a store that holds it"
    )


def _fetch(recorded: RecordedVersion, download: Download) -> tuple[bytes, Manifest]:
    """The release's model file and manifest, checked against the hashes its tag records."""
    where = f"release {recorded.tag}"
    if recorded.model_sha256 is None or recorded.manifest_sha256 is None:
        raise RegistryError(f"tag {recorded.tag} records no hash of its release's files")
    with tempfile.TemporaryDirectory(prefix="gitops-ml-release-") as tmp:
        names = [git_record.MODEL_ASSET, git_record.MANIFEST_ASSET]
        download(recorded.tag, names, Path(tmp))
        model, manifest = ((Path(tmp) / name).read_bytes() for name in names)
    for name, data, expected in (
        (git_record.MODEL_ASSET, model, recorded.model_sha256),
        (git_record.MANIFEST_ASSET, manifest, recorded.manifest_sha256),
    ):
        if sha256_bytes(data) != expected:
            raise RegistryError(
                f"{where}: refusing its {name}: its SHA-256 is {sha256_bytes(data)}, not the "
                f"{expected} that tag {recorded.tag} records (the file was replaced since)"
            )
    return model, git_record.parse_manifest(manifest, f"{where}: {git_record.MANIFEST_ASSET}")


def _register(
    reg: ModelRegistry, params: Params, recorded: RecordedVersion, download: Download
) -> registry.Version:
    model, manifest = _fetch(recorded, download)
    commit = lineage.read(manifest.tags, lineage.COMMIT)
    if (manifest.model, manifest.version, commit) != (reg.name, recorded.number, recorded.commit):
        raise RegistryError(
            f"release {recorded.tag}: its manifest describes {manifest.model} v"
            f"{manifest.version} at {commit}, not {reg.name} v{recorded.number} at "
            f"{recorded.commit} as the tag records"
        )
    # Read through the allow-list before anything is logged; the bytes are logged as they are.
    load_model_bytes(model, f"release {recorded.tag}: {git_record.MODEL_ASSET}")
    run_tags = {
        k: v
        for k, v in manifest.tags.items()
        if k in (lineage.COMMIT, lineage.BRANCH, lineage.MODEL_MD5, lineage.MODEL_SHA256)
        or k in lineage.data_hashes(manifest.tags)
    }
    with tempfile.TemporaryDirectory(prefix="gitops-ml-model-") as tmp:
        model_file = Path(tmp) / git_record.MODEL_ASSET
        model_file.write_bytes(model)
        run_id = tracking.log_model_file(
            model_file=model_file,
            schema=manifest.schema,
            tags={**run_tags, REBUILT_TAG: recorded.tag},
            settings=params.mlflow,
            run_name=f"v{recorded.number} rebuilt from {recorded.tag}",
        )
    failpoints.reached("rebuild-logged")
    tags = {**manifest.tags, REBUILT_TAG: recorded.tag}
    while True:
        version = reg.register(run_id, tags)
        if int(version.version) == int(recorded.number):
            return version
        if int(version.version) > int(recorded.number):
            raise RegistryError(
                f"registry model {reg.name!r}: the store numbered the next version "
                f"v{version.version}, past v{recorded.number} that tag {recorded.tag} records; "
                "it holds versions git does not know: rebuild into a new store"
            )
        _give_up(reg, version.version)


def _give_up(reg: ModelRegistry, number: str) -> None:
    # A number git records no model for (a rejected version, one left out): taken, then given
    # up for good, since the store never gives a number twice.
    reg.tag(number, {GAP_TAG: "true"})
    reg.delete(number)
    failpoints.reached("rebuild-gap")


def _use_up_numbers(reg: ModelRegistry, record: GitRecord) -> None:
    """Use up the numbers up to the newest the tags record, when that one was left out."""
    newest = max(record.versions, key=int)
    restored = [v for v in reg.versions() if v.run_id]
    if not restored or int(restored[-1].version) >= int(newest):
        return
    while True:  # any logged model will do: each registration is deleted at once
        version = reg.register(str(restored[-1].run_id), {REBUILT_TAG: f"gap up to v{newest}"})
        _give_up(reg, version.version)
        if int(version.version) >= int(newest):
            return


def _finish(
    reg: ModelRegistry, version: registry.Version, recorded: RecordedVersion, record: GitRecord
) -> None:
    """Record the registry copy's hash, the card and the GTO tags of a rebuilt version."""
    if lineage.ARTIFACT_SHA256 not in version.tags:
        reg.read_back(version, "rebuild-hash")
    reg.describe(version.version, recorded.card)
    promoted = [
        a.tag for a in record.assignments if a.version == version.version and a.action == "promote"
    ]
    reg.tag(version.version, {GTO_TAGS: json.dumps([recorded.tag, *promoted[:1]])})


def _aliases_and_history(reg: ModelRegistry, record: GitRecord) -> str | None:
    """Replay the production assignments: the aliases they leave, and the events the history
    lacks (a store that lags the tags keeps its own, and gets the later ones appended)."""
    champion: str | None = None
    previous: str | None = None
    told = {tag for event in reg.events() for tag in event.get("gto_tags") or []}
    held = {v.version for v in reg.versions()}  # not the versions left out
    for assignment in record.assignments:
        if champion is not None and champion != assignment.version:
            previous = champion
        champion = assignment.version
        if champion in held:
            reg.set_alias(f"{CHAMPION}-v{champion}", champion)
        if assignment.tag in told:
            continue
        registration = record.versions[champion].tag if champion in record.versions else None
        promoted = registration is not None and assignment.action == "promote"
        reg.record_event(
            {
                "action": assignment.action,
                "version": champion,
                "from": assignment.replaced,
                "reason": assignment.reason,
                "commit": assignment.commit,
                "gto_tags": [registration, assignment.tag] if promoted else [assignment.tag],
                "at": assignment.at,
                "rebuilt_from": assignment.tag,
            }
        )
    newest = max(held, key=int)
    challenger = reg.aliases().get(CHALLENGER)
    if challenger is None or int(challenger) < int(newest):
        reg.set_alias(CHALLENGER, newest)
    if previous in held:
        reg.set_alias(PREVIOUS, previous)
    if champion is not None:
        reg.set_alias(CHAMPION, champion)
    failpoints.reached("rebuild-aliases")
    return champion
