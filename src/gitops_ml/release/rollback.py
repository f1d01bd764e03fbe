"""The rollback command: point `champion` back at an earlier version, recording why in the
registry's history and as a GTO assignment tag.

The version rolled back to must load: its model is read back from the registry through the
allow-list and checked against the hash recorded for it before anything moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops_ml.core.errors import UserError
from gitops_ml.core.params import Params
from gitops_ml.infra import git, lineage, tracking
from gitops_ml.release import git_record, git_tags, registry
from gitops_ml.release.registry import CHAMPION, PREVIOUS, ModelRegistry


@dataclass(frozen=True)
class Rollback:
    """What `rollback` did."""

    from_version: str
    to_version: str
    gto_tag: str
    reason: str


def rollback(repo: Path, params: Params, to: str | None, reason: str) -> Rollback:
    """Point `champion` back at the previous (or given) version and record why."""
    if not reason.strip():
        raise UserError("--reason: give the reason for the rollback (it is recorded)")
    uri = tracking.tracking_uri()
    with registry.errors_named(uri):
        return _rollback(repo, ModelRegistry(params.registry.model_name, uri), to, reason)


def _rollback(repo: Path, reg: ModelRegistry, to: str | None, reason: str) -> Rollback:
    name = reg.name
    with reg.lock() as lease:
        git_tags.fetch_tags(repo)
        git_record.check_against_tags(repo, reg)
        aliases = reg.aliases()
        current = aliases.get(CHAMPION)
        if current is None:
            raise UserError(f"registry model {name!r} has no champion to roll back")
        wanted = (to or "").strip().removeprefix("v") or aliases.get(PREVIOUS)
        if not wanted:
            raise UserError(
                f"registry model {name!r} has no previous champion; name one with --to VERSION"
            )
        target = reg.get(wanted)
        if target.version == current:
            raise UserError(f"registry model {name!r}: v{current} already is the champion")
        commit = lineage.read(target.tags, lineage.COMMIT) or ""
        if not git.commit_exists(repo, commit):
            raise UserError(
                f"registry model {name!r} v{target.version}: its commit {commit or '(none)'} "
                f"is not in {repo}; fetch the full history (fetch-depth: 0)"
            )
        reg.read_back(target, "rollback-hash")  # refuses a version that does not load
        gto_v = git_tags.gto_register(
            repo,
            name,
            commit,
            message=git_record.with_trailers(
                target.description, {git_record.VERSION_KEY: target.version}
            ),
        )
        tag = git_tags.gto_assign(
            repo,
            name,
            gto_v,
            message=git_record.with_trailers(
                f"Rollback of {name} from v{current} to v{target.version} ({gto_v}): "
                f"{reason.strip()}",
                {
                    git_record.ACTION_KEY: "rollback",
                    git_record.VERSION_KEY: target.version,
                    git_record.FROM_KEY: current,
                },
            ),
        )
        lease.ensure()
        reg.move_champion(current, target.version)
        reg.record_event(
            {
                "action": "rollback",
                "version": target.version,
                "from": current,
                "reason": reason.strip(),
                "commit": commit,
                "gto_tags": [tag],
                "at": registry.now(),
            }
        )
    return Rollback(current, target.version, tag, reason.strip())
