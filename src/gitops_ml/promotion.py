"""The promote, rollback and registry commands: read the repository, decide, record.

Reading (files, dvc.lock, git) and deciding happen here; every registry write goes through
`gitops_ml.registry`.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitops_ml import champion, lineage, model_card, registry
from gitops_ml.errors import UserError
from gitops_ml.files import md5, write_json, write_text
from gitops_ml.params import Params
from gitops_ml.registry import CHALLENGER, CHAMPION, PREVIOUS, SHA_TAG, ModelRegistry
from gitops_ml.schema import FeatureSchema

DECISION_TAG = "gitops_ml.decision"
GTO_TAGS = "gto.tags"
MODEL_MD5 = "model_md5"


@dataclass(frozen=True)
class Paths:
    """Where promotion reads its inputs and writes its reports (dvc.yaml's paths)."""

    repo: Path
    model: Path
    prepared: Path
    lock: Path
    requirements: Path
    out: Path


@dataclass(frozen=True)
class Outcome:
    """What `promote` did: the version, its decision, the git tags made, the model card."""

    version: str
    decision: champion.Decision
    gto_tags: list[str]
    card: str
    rerun: bool


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pull_request(commit_message: str, env: dict[str, str]) -> str | None:
    """The pull request number from PR_NUMBER or a merge / squash commit message."""
    if env.get("PR_NUMBER", "").strip().isdigit():
        return env["PR_NUMBER"].strip()
    subject = commit_message.splitlines()[0] if commit_message else ""
    found = re.search(r"Merge pull request #(\d+)", subject) or re.search(
        r"\(#(\d+)\)\s*$", subject
    )
    return found.group(1) if found else None


def _lock_key(path: Path, repo: Path) -> str:
    return (path.relative_to(repo) if path.is_absolute() else path).as_posix()


def lineage_tags(paths: Paths, params: Params, lock: dict[str, Any], commit: str) -> dict[str, str]:
    """Tags tying a version to its commit, data, params, model and dependency lock."""
    stages = lock.get("stages", {})
    model_key = _lock_key(paths.model, paths.repo)
    params_seen = {name: stage.get("params", {}) for name, stage in sorted(stages.items())}
    tags = {
        SHA_TAG: commit,
        "git.branch": lineage.git_branch(paths.repo) or "unknown",
        "git.dirty": str(lineage.git_dirty(paths.repo)).lower(),
        "dvc.data.md5": lineage.lock_hash(lock, "prepare", params.data.raw) or "unknown",
        "dvc.prepared.md5": lineage.lock_hash(
            lock, "prepare", _lock_key(paths.prepared, paths.repo), "outs"
        )
        or "unknown",
        "dvc.model.md5": lineage.lock_hash(lock, "train", model_key, "outs") or "unknown",
        "dvc.params.md5": _text_md5(json.dumps(params_seen, sort_keys=True, default=str)),
        "requirements.md5": md5(paths.requirements) if paths.requirements.is_file() else "none",
        MODEL_MD5: md5(paths.model),
    }
    number = pull_request(lineage.git_message(paths.repo), dict(os.environ))
    if number:
        tags["pr"] = number
    return tags


def _text_md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _check_built(paths: Paths) -> dict[str, Any]:
    if not paths.model.is_file():
        raise UserError(f"{paths.model}: model file not found; run `dvc repro` first")
    lock = lineage.read_lock(paths.lock)
    locked = lineage.lock_hash(lock, "train", _lock_key(paths.model, paths.repo), "outs")
    actual = md5(paths.model)
    if locked != actual:
        raise UserError(
            f"{paths.model}: md5 {actual} does not match {paths.lock} ({locked or 'no entry'}); "
            "run `dvc repro` so the model is the one this commit builds"
        )
    return lock


def _training_run(params: Params, model_md5: str) -> str | None:
    from gitops_ml.tracking import MODEL_TAG, use_server

    mlflow = use_server()
    if mlflow.get_experiment_by_name(params.mlflow.experiment) is None:
        return None
    found = mlflow.search_runs(
        experiment_names=[params.mlflow.experiment],
        filter_string=f"tags.`{MODEL_TAG}` = '{model_md5}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return str(found[0].info.run_id) if found else None


def _log_model(paths: Paths, params: Params, test: pd.DataFrame, schema: FeatureSchema) -> str:
    """Log the model file to a new run (a tracking server that never saw this training)."""
    from gitops_ml import tracking
    from gitops_ml.train import features, load_model

    with redirect_stdout(io.StringIO()):  # MLflow prints a link to the run
        return tracking.log_training(
            pipeline=load_model(paths.model),
            model_path=paths.model,
            example=features(test, schema).head(5),
            params=params,
            data_files=[paths.prepared / "train.parquet", paths.prepared / "test.parquet"],
        )


def _champion_if_same_model(reg: ModelRegistry, paths: Paths) -> registry.Version | None:
    current = reg.aliases().get(CHAMPION)
    if current is None:
        return None
    version = reg.get(current)
    return version if version.tags.get(MODEL_MD5) == md5(paths.model) else None


def _proba(model_path: Path, test: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    from gitops_ml.train import features, load_model

    result: np.ndarray = load_model(model_path).predict_proba(features(test, schema))[:, 1]
    return result


def _data_facts(paths: Paths, params: Params, lock: dict[str, Any]) -> model_card.DataFacts:
    schema = FeatureSchema.read(paths.prepared / "schema.json")
    train = pd.read_parquet(paths.prepared / "train.parquet", columns=[schema.target])
    test = pd.read_parquet(paths.prepared / "test.parquet", columns=[schema.target])
    return model_card.DataFacts(
        source=params.data.raw,
        source_md5=lineage.lock_hash(lock, "prepare", params.data.raw),
        train_rows=len(train),
        test_rows=len(test),
        train_positive_rate=float(train[schema.target].mean()),
        test_positive_rate=float(test[schema.target].mean()),
        target=schema.target,
        positive_label=str(schema.positive_label),
    )


def _write_reports(out: Path, outcome: Outcome, name: str) -> None:
    data = {
        "model": name,
        "version": outcome.version,
        "promoted": outcome.decision.promote,
        "gto_tags": outcome.gto_tags,
        "rerun": outcome.rerun,
        **outcome.decision.to_dict(),
    }
    write_json(out / "decision.json", data)
    write_text(out / "decision.md", champion.markdown(outcome.decision, name, outcome.version))
    write_text(out / "model_card.md", outcome.card)


def promote(paths: Paths, params: Params, lock_timeout: float = 300.0) -> Outcome:
    """Register this commit's model, decide champion against challenger, record the result."""
    from gitops_ml.tracking import tracking_uri

    lock = _check_built(paths)
    commit = lineage.git_commit(paths.repo)
    if commit is None:
        raise UserError(f"{paths.repo}: not a git repository; promotion records a commit")
    name = params.registry.model_name
    uri = tracking_uri()
    schema = FeatureSchema.read(paths.prepared / "schema.json")
    test = pd.read_parquet(paths.prepared / "test.parquet")
    with registry.errors_named(uri):
        reg = ModelRegistry(name, uri)
        return _promote(paths, params, reg, lock, commit, schema, test, lock_timeout)


def _promote(
    paths: Paths,
    params: Params,
    reg: ModelRegistry,
    lock: dict[str, Any],
    commit: str,
    schema: FeatureSchema,
    test: pd.DataFrame,
    lock_timeout: float,
) -> Outcome:
    name = reg.name
    with reg.lock(timeout=lock_timeout):
        registry.fetch_tags(paths.repo)
        version = reg.find_by_commit(commit)
        if version is not None and DECISION_TAG in version.tags:
            outcome = Outcome(
                version=version.version,
                decision=champion.Decision.from_dict(json.loads(version.tags[DECISION_TAG])),
                gto_tags=json.loads(version.tags.get(GTO_TAGS, "[]")),
                card=version.description,
                rerun=True,
            )
            _write_reports(paths.out, outcome, name)
            return outcome
        if version is None and (same := _champion_if_same_model(reg, paths)) is not None:
            # A commit that did not change the model (docs, comments): nothing new to register.
            y = test[schema.target].to_numpy(dtype=np.int8)
            outcome = Outcome(
                version=same.version,
                decision=champion.Decision(
                    promote=False,
                    reason=f"same model file as champion v{same.version}: nothing registered",
                    metric=params.registry.metric,
                    challenger=champion.scores(
                        y, _proba(paths.model, test, schema), params.evaluate, params.seed
                    ),
                ),
                gto_tags=[],
                card=same.description,
                rerun=True,
            )
            _write_reports(paths.out, outcome, name)
            return outcome
        if version is None:
            tags = lineage_tags(paths, params, lock, commit)
            run_id = _training_run(params, tags[MODEL_MD5]) or _log_model(
                paths, params, test, schema
            )
            version = reg.register(run_id, tags)
        reg.set_alias(CHALLENGER, version.version)
        outcome = _decide_and_record(paths, params, reg, version, commit, lock, schema, test)
    _write_reports(paths.out, outcome, name)
    return outcome


def _decide_and_record(
    paths: Paths,
    params: Params,
    reg: ModelRegistry,
    version: registry.Version,
    commit: str,
    lock: dict[str, Any],
    schema: FeatureSchema,
    test: pd.DataFrame,
) -> Outcome:
    name = params.registry.model_name
    floors = params.gates.floors  # the same floors as the pull-request gate
    y = test[schema.target].to_numpy(dtype=np.int8)
    settings = params.evaluate
    with tempfile.TemporaryDirectory(prefix="gitops-ml-promote-") as tmp:
        model_file = paths.model
        if version.tags.get(MODEL_MD5) != md5(paths.model):
            model_file = reg.download_model(version.version, Path(tmp) / "challenger")
        new = _proba(model_file, test, schema)
        current = reg.aliases().get(CHAMPION)
        if current == version.version:
            # A rerun after an interrupted one that had already moved the alias.
            decision = champion.Decision(
                promote=True, reason="already champion", metric=params.registry.metric,
                challenger=champion.scores(y, new, settings, params.seed),
            )  # fmt: skip
        elif current is None:
            new_scores = champion.scores(y, new, settings, params.seed)
            decision = champion.decide(new_scores, None, None, params.registry, floors)
        else:
            old_file = reg.download_model(current, Path(tmp) / "champion")
            old = _proba(old_file, test, schema)
            new_scores, old_scores, delta_se = champion.paired(
                y, new, old, params.registry.metric, settings, params.seed
            )
            decision = champion.decide(
                new_scores, old_scores, delta_se, params.registry, floors, current
            )
    lineage_shown = {
        k: v for k, v in version.tags.items() if not k.startswith(("gitops_ml.", "metrics."))
    }
    lineage_shown["mlflow.run_id"] = version.run_id or "unknown"
    card = model_card.render(
        model_card.Card(
            name=name,
            version=version.version,
            intended_use=params.registry.intended_use,
            limitations=list(params.registry.limitations),
            data=_data_facts(paths, params, lock),
            train_params={"seed": params.seed, **params.train.model_dump(mode="json")},
            decision=decision,
            lineage=lineage_shown,
        )
    )
    gto_tags: list[str] = []
    if decision.promote and current != version.version:
        gto_v = registry.gto_register(paths.repo, name, commit, message=card)
        assign = registry.gto_assign(
            paths.repo,
            name,
            gto_v,
            message=f"Promote {name} v{version.version} ({gto_v}) to prod: "
            f"{decision.reason}\n\n{card}",
        )
        gto_tags = [f"{name}@{gto_v}", assign]
        reg.move_champion(current, version.version)
    shown = decision.challenger
    metrics = {f"metrics.{k}": str(v) for k, v in shown.metrics.items()}
    metrics.update({f"metrics.{k}_se": str(v) for k, v in shown.se.items()})
    reg.describe(version.version, card)
    if version.run_id:
        reg.log_text(version.run_id, card, f"registry/v{version.version}/model_card.md")
    reg.record_event(
        {
            "action": "promote" if decision.promote else "reject",
            "version": version.version,
            "from": current,
            "reason": decision.reason,
            "commit": commit,
            "gto_tags": gto_tags,
            "at": _now(),
        }
    )
    # The decision tag goes last: its presence marks the version as fully processed.
    reg.tag(
        version.version,
        {
            **metrics,
            GTO_TAGS: json.dumps(gto_tags),
            DECISION_TAG: json.dumps(decision.to_dict(), sort_keys=True),
        },
    )
    return Outcome(version.version, decision, gto_tags, card, rerun=False)


@dataclass(frozen=True)
class Rollback:
    """What `rollback` did."""

    from_version: str
    to_version: str
    gto_tag: str
    reason: str


def rollback(repo: Path, params: Params, to: str | None, reason: str) -> Rollback:
    """Point `champion` back at the previous (or given) version and record why."""
    from gitops_ml.tracking import tracking_uri

    if not reason.strip():
        raise UserError("--reason: give the reason for the rollback (it is recorded)")
    uri = tracking_uri()
    with registry.errors_named(uri):
        return _rollback(repo, ModelRegistry(params.registry.model_name, uri), to, reason)


def _rollback(repo: Path, reg: ModelRegistry, to: str | None, reason: str) -> Rollback:
    name = reg.name
    with reg.lock():
        registry.fetch_tags(repo)
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
        commit = target.tags.get(SHA_TAG, "")
        if not registry.commit_exists(repo, commit):
            raise UserError(
                f"registry model {name!r} v{target.version}: its commit {commit or '(none)'} "
                f"is not in {repo}; fetch the full history (fetch-depth: 0)"
            )
        gto_v = registry.gto_register(repo, name, commit, message=target.description)
        tag = registry.gto_assign(
            repo,
            name,
            gto_v,
            message=f"Rollback of {name} from v{current} to v{target.version} ({gto_v}): "
            f"{reason.strip()}",
        )
        reg.move_champion(current, target.version)
        reg.record_event(
            {
                "action": "rollback",
                "version": target.version,
                "from": current,
                "reason": reason.strip(),
                "commit": commit,
                "gto_tags": [tag],
                "at": _now(),
            }
        )
    return Rollback(current, target.version, tag, reason.strip())


@dataclass(frozen=True)
class Status:
    """The registry's current aliases, versions and history."""

    name: str
    metric: str
    aliases: dict[str, str]
    versions: list[registry.Version]
    events: list[dict[str, Any]]


def status(params: Params) -> Status:
    """Read the registry of the configured model."""
    from gitops_ml.tracking import tracking_uri

    uri = tracking_uri()
    with registry.errors_named(uri):
        reg = ModelRegistry(params.registry.model_name, uri)
        return Status(reg.name, params.registry.metric, reg.aliases(), reg.versions(), reg.events())


def status_markdown(state: Status) -> str:
    """The registry as markdown: champion, challenger, versions and the history of events."""
    a = state.aliases

    def shown(alias: str) -> str:
        return f"v{a[alias]}" if alias in a else "none"

    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(a.items()):
        by_version.setdefault(version, []).append(alias)
    lines = [
        f"# Registry: {state.name}",
        "",
        f"- champion: {shown(CHAMPION)}",
        f"- challenger: {shown(CHALLENGER)}",
        f"- previous champion: {shown(PREVIOUS)}",
        "",
        f"| version | commit | pr | {state.metric} | decision | aliases |",
        "|---|---|---|---:|---|---|",
    ]
    for v in state.versions:
        decision = json.loads(v.tags[DECISION_TAG]) if DECISION_TAG in v.tags else None
        verdict = "pending"
        if decision is not None:
            verdict = "promoted" if decision["promote"] else "rejected"
        lines.append(
            f"| v{v.version} | {v.tags.get(SHA_TAG, '')[:10]} | {v.tags.get('pr', '')} "
            f"| {v.tags.get(f'metrics.{state.metric}', '')} | {verdict} "
            f"| {', '.join(by_version.get(v.version, []))} |"
        )
    lines += ["", "| # | when | action | version | from | reason |", "|---:|---|---|---|---|---|"]
    for i, e in enumerate(state.events, start=1):
        old = f"v{e['from']}" if e.get("from") else ""
        lines.append(
            f"| {i} | {e['at']} | {e['action']} | v{e['version']} | {old} "
            f"| {e['reason'].replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"
