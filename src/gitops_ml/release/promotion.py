"""The promote command: register this commit's model, decide champion against challenger, and
record the result in the registry, in git tags and in the model card.

Reading (files, dvc.lock, git) and deciding happen here; every registry write goes through
`registry` (MLflow) and `git_tags` (GTO).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitops_ml.core.errors import UserError
from gitops_ml.core.metrics import Scores, paired_scores, scores
from gitops_ml.core.model import features, positive_proba
from gitops_ml.core.params import Params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import dvc_lock, git, lineage, tracking
from gitops_ml.infra.files import md5, write_json, write_text
from gitops_ml.infra.model_files import load_model, trusted_names
from gitops_ml.release import champion, git_tags, model_card, registry
from gitops_ml.release.registry import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    GTO_TAGS,
    ModelRegistry,
)


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


def version_tags(paths: Paths, params: Params, lock: dict[str, Any], commit: str) -> dict[str, str]:
    """Tags tying a version to its commit, data, params, model and dependency lock."""
    stages = lock.get("stages", {})
    model_key = _lock_key(paths.model, paths.repo)
    params_seen = {name: stage.get("params", {}) for name, stage in sorted(stages.items())}
    prepared_key = _lock_key(paths.prepared, paths.repo)
    tags = {
        **lineage.git_tags(paths.repo),
        lineage.COMMIT: commit,
        lineage.DATA: dvc_lock.lock_hash(lock, "prepare", params.data.raw) or "unknown",
        lineage.PREPARED: dvc_lock.lock_hash(lock, "prepare", prepared_key, "outs") or "unknown",
        lineage.MODEL: dvc_lock.lock_hash(lock, "train", model_key, "outs") or "unknown",
        lineage.PARAMS: _text_md5(json.dumps(params_seen, sort_keys=True, default=str)),
        lineage.REQUIREMENTS: md5(paths.requirements) if paths.requirements.is_file() else "none",
        lineage.MODEL_MD5: md5(paths.model),
    }
    number = pull_request(git.message(paths.repo), dict(os.environ))
    if number:
        tags[lineage.PULL_REQUEST] = number
    return tags


def _text_md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _check_built(paths: Paths) -> dict[str, Any]:
    if not paths.model.is_file():
        raise UserError(f"{paths.model}: model file not found; run `dvc repro` first")
    lock = dvc_lock.read_lock(paths.lock)
    locked = dvc_lock.lock_hash(lock, "train", _lock_key(paths.model, paths.repo), "outs")
    actual = md5(paths.model)
    if locked != actual:
        raise UserError(
            f"{paths.model}: md5 {actual} does not match {paths.lock} ({locked or 'no entry'}); "
            "run `dvc repro` so the model is the one this commit builds"
        )
    return lock


def _training_run(params: Params, model_md5: str) -> str | None:
    mlflow = tracking.use_server()
    if mlflow.get_experiment_by_name(params.mlflow.experiment) is None:
        return None
    found = mlflow.search_runs(
        experiment_names=[params.mlflow.experiment],
        filter_string=f"tags.`{lineage.MODEL_MD5}` = '{model_md5}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return str(found[0].info.run_id) if found else None


def _log_model(paths: Paths, params: Params, test: pd.DataFrame, schema: FeatureSchema) -> str:
    """Log the model file to a new run (a tracking server that never saw this training)."""
    with redirect_stdout(io.StringIO()):  # MLflow prints a link to the run
        return tracking.log_training(
            pipeline=load_model(paths.model),
            model_path=paths.model,
            example=features(test, schema).head(5),
            params=params,
            data_files=[paths.prepared / "train.parquet", paths.prepared / "test.parquet"],
            trusted_types=trusted_names(),
        )


def _champion_if_same_model(reg: ModelRegistry, paths: Paths) -> registry.Version | None:
    current = reg.aliases().get(CHAMPION)
    if current is None:
        return None
    version = reg.get(current)
    return version if lineage.read(version.tags, lineage.MODEL_MD5) == md5(paths.model) else None


def _scores(proba: np.ndarray, test: pd.DataFrame, schema: FeatureSchema, params: Params) -> Scores:
    y = test[schema.target].to_numpy(dtype=np.int8)
    return scores(y, proba, params.evaluate.threshold, params.evaluate.bootstrap, params.seed)


def _proba(model_path: Path, test: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    return positive_proba(load_model(model_path), features(test, schema))


def _data_facts(paths: Paths, params: Params, lock: dict[str, Any]) -> model_card.DataFacts:
    schema = FeatureSchema.read(paths.prepared / "schema.json")
    train = pd.read_parquet(paths.prepared / "train.parquet", columns=[schema.target])
    test = pd.read_parquet(paths.prepared / "test.parquet", columns=[schema.target])
    return model_card.DataFacts(
        source=params.data.raw,
        source_md5=dvc_lock.lock_hash(lock, "prepare", params.data.raw),
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
    lock = _check_built(paths)
    commit = git.head_commit(paths.repo)
    if commit is None:
        raise UserError(f"{paths.repo}: not a git repository; promotion records a commit")
    name = params.registry.model_name
    uri = tracking.tracking_uri()
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
        git_tags.fetch_tags(paths.repo)
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
            outcome = Outcome(
                version=same.version,
                decision=champion.Decision(
                    promote=False,
                    reason=f"same model file as champion v{same.version}: nothing registered",
                    metric=params.registry.metric,
                    challenger=_scores(_proba(paths.model, test, schema), test, schema, params),
                ),
                gto_tags=[],
                card=same.description,
                rerun=True,
            )
            _write_reports(paths.out, outcome, name)
            return outcome
        if version is None:
            tags = version_tags(paths, params, lock, commit)
            run_id = _training_run(params, tags[lineage.MODEL_MD5]) or _log_model(
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
    settings = params.evaluate
    with tempfile.TemporaryDirectory(prefix="gitops-ml-promote-") as tmp:
        model_file = paths.model
        if lineage.read(version.tags, lineage.MODEL_MD5) != md5(paths.model):
            model_file = reg.download_model(version.version, Path(tmp) / "challenger")
        new = _proba(model_file, test, schema)
        current = reg.aliases().get(CHAMPION)
        if current == version.version:
            # A rerun after an interrupted one that had already moved the alias.
            decision = champion.Decision(
                promote=True, reason="already champion", metric=params.registry.metric,
                challenger=_scores(new, test, schema, params),
            )  # fmt: skip
        elif current is None:
            new_scores = _scores(new, test, schema, params)
            decision = champion.decide(new_scores, params.registry, floors)
        else:
            old_file = reg.download_model(current, Path(tmp) / "champion")
            paired = paired_scores(
                test[schema.target].to_numpy(dtype=np.int8),
                new,
                _proba(old_file, test, schema),
                params.registry.metric,
                settings.threshold,
                settings.bootstrap,
                params.seed,
            )
            decision = champion.decide(paired.new, params.registry, floors, paired, current)
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
        gto_v = git_tags.gto_register(paths.repo, name, commit, message=card)
        assign = git_tags.gto_assign(
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
            "at": registry.now(),
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
