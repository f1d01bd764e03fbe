"""What `promote` may promote, and the bar it must clear, neither set by the commit promoted.

The bar is the promotion rule (`registry.metric`, `margin`, `noise`, `gates.floors`) with the way
both models are scored for it (`evaluate.threshold`, `evaluate.bootstrap`, `seed`), read from
params.yaml at another commit than the one promoted, as the pull-request gate reads the base:
- the state of `main` before the push being promoted (the push event's `before` commit, which
  promote.yml passes as `--rule-from`; the promoted commit's first parent would not do, since
  after a fast-forward or rebase merge it is the pull request's own commit);
- else, for a manual run, the current champion's commit;
- else, when there is no champion yet, the promoted commit itself: the first champion has
  nothing to be compared with, so its floors are the only bar.
A change to any of these settings takes effect from the promotion after the one that merges it.

A promoted commit must be on the default branch (what review and merge protect); another is
refused unless forced with a reason, which is recorded in the registry and the model card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops_ml.core.errors import ParamsError, UserError
from gitops_ml.core.params import EvaluateParams, GatesParams, RegistryParams, problems
from gitops_ml.core.yaml12 import parse_yaml
from gitops_ml.infra import git

log = logging.getLogger("gitops_ml.promote")
# A push that created the branch has no `before`: GitHub sends forty zeros.
_NO_COMMIT = "0" * 40


@dataclass(frozen=True)
class Bar:
    """The promotion rule and how scores are computed for it, and where they were read."""

    rule: RegistryParams
    floors: dict[str, float]
    threshold: float
    bootstrap: int
    seed: int
    commit: str
    source: str  # why this commit, in words

    def describe(self) -> str:
        """Where the bar comes from, for the model card and the decision."""
        return f"params.yaml at {self.commit[:12]} ({self.source})"

    def to_dict(self) -> dict[str, Any]:
        """The bar as JSON-ready data."""
        return {
            "commit": self.commit,
            "source": self.source,
            "metric": self.rule.metric,
            "margin": self.rule.margin,
            "noise": self.rule.noise,
            "floors": dict(self.floors),
            "threshold": self.threshold,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }


def _usable(rev: str | None) -> str | None:
    rev = (rev or "").strip()
    return rev if rev and rev != _NO_COMMIT else None


def rule_commit(
    repo: Path, rule_from: str | None, champion_commit: str | None, candidate: str
) -> tuple[str, str]:
    """The commit whose params.yaml sets the bar, and why that one."""
    given = _usable(rule_from)
    if given is not None:
        found = git.resolve_commit(repo, given)
        if found is not None:
            return found, "main before the push"
        log.warning(
            "--rule-from %s: no such commit in %s (history rewritten?); the bar is read from "
            "the champion's commit instead",
            given,
            repo,
        )
    if champion_commit:
        found = git.resolve_commit(repo, champion_commit)
        if found is None:
            raise UserError(
                f"the champion's commit {champion_commit} is not in {repo}, so the promotion "
                "bar cannot be read from it; fetch the full history (fetch-depth: 0) or pass "
                "--rule-from"
            )
        return found, "the champion's commit"
    return candidate, "this commit: no champion yet"


def read_bar(repo: Path, params_path: str, commit: str, source: str) -> Bar:
    """The bar in params.yaml as it was at `commit`; ParamsError naming the commit and key."""
    where = f"{commit[:12]}:{params_path}"
    [text] = git.read_files(repo, [(commit, params_path)])
    if text is None:
        raise ParamsError(f"{where}: no such file, so the promotion bar cannot be read from it")
    raw = parse_yaml(text, where)
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping of sections at the top level")
    try:
        rule = RegistryParams.model_validate(raw.get("registry"))
        gates = GatesParams.model_validate(raw.get("gates") or {})
        scoring = EvaluateParams.model_validate(raw.get("evaluate") or {})
    except ValidationError as exc:
        raise ParamsError(f"{where}: {problems(exc)[0]}") from None
    seed = raw.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ParamsError(f"{where}: seed: expected an integer, got {seed!r}")
    return Bar(
        rule=rule,
        floors=dict(gates.floors),
        threshold=scoring.threshold,
        bootstrap=scoring.bootstrap,
        seed=seed,
        commit=commit,
        source=source,
    )


def default_branch(repo: Path, given: str | None) -> str:
    """The ref of the default branch: `given` (a name or a ref), else origin's HEAD or main."""
    if given and given.strip():
        name = given.strip()
        candidates = [f"origin/{name}", name]
    else:
        head = git.query(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        candidates = [*([head] if head else []), "origin/main", "main"]
    for ref in candidates:
        if git.resolve_commit(repo, ref) is not None:
            return ref
    raise UserError(
        f"cannot find the default branch in {repo} (tried {', '.join(candidates)}); fetch it "
        "or name it with --default-branch"
    )


def check_on_branch(repo: Path, commit: str, branch: str, force_reason: str | None) -> None:
    """Refuse a commit that is not on `branch`, unless forced with a reason."""
    if git.succeeds(repo, "merge-base", "--is-ancestor", commit, branch):
        return
    if force_reason is not None and force_reason.strip():
        log.warning("promoting %s, which is not on %s: %s", commit[:12], branch, force_reason)
        return
    raise UserError(
        f"commit {commit[:12]} is not on the default branch ({branch}): only reviewed, merged "
        "commits are promoted; to promote it anyway pass --force-off-main --reason '...' "
        "(the reason is recorded in the registry and the model card)"
    )
