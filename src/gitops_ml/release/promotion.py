"""The promote command: register this commit's model, decide champion against challenger, and
record the result in the registry, in git tags and in the model card.

Reading (files, dvc.lock, git) and deciding happen here; every registry write goes through
`registry` (MLflow) and `git_tags` (GTO), every model load through `model_source`.

Crash safety: every step can be killed (`infra/failpoints` names each one) and the command run
again. A version becomes champion only after its model has been read back from the registry,
checked against the hash recorded for it and scored; a run left unfinished is never registered;
the decision is recorded on the version before anything moves, so a rerun after a crash that had
moved the alias finishes the same decision; git tags and events are written once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitops_ml.core.errors import UserError
from gitops_ml.core.metrics import Scores, paired_scores, scores
from gitops_ml.core.model import features, positive_proba
from gitops_ml.core.params import Params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import dvc_lock, failpoints, git, lineage, tracking
from gitops_ml.infra.files import md5, sha256_bytes, write_bytes, write_json, write_text
from gitops_ml.infra.model_files import load_model
from gitops_ml.release import champion, git_record, git_tags, model_card, registry
from gitops_ml.release.bar import Bar, check_on_branch, default_branch, read_bar, rule_commit
from gitops_ml.release.lease import Lease
from gitops_ml.release.registry import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    GTO_TAGS,
    PENDING_TAG,
    REBUILT_TAG,
    ModelRegistry,
)

# Version tags: where the bar was read, and why a commit off the default branch was promoted.
RULE_TAG = "gitops_ml.rule_from"
FORCED_TAG = "gitops_ml.forced_off_main"


@dataclass(frozen=True)
class Paths:
    """Where promotion reads its inputs and writes its reports (dvc.yaml's paths)."""

    repo: Path
    model: Path
    prepared: Path
    lock: Path
    requirements: Path
    out: Path
    params: Path = Path("params.yaml")


@dataclass(frozen=True)
class Options:
    """Where the bar comes from and what may be promoted."""

    rule_from: str | None = None  # main before the push (promote.yml: the event's `before`)
    branch: str | None = None  # the default branch; None: origin's HEAD, else main
    force_reason: str | None = None  # promote a commit off the default branch, saying why
    lock_timeout: float = 300.0


@dataclass(frozen=True)
class Outcome:
    """What `promote` did: the version, its decision, the git tags made, the model card."""

    version: str
    decision: champion.Decision
    gto_tags: list[str]
    card: str
    rerun: bool
    bar: dict[str, Any] | None = None


def pull_request(commit_message: str, env: dict[str, str]) -> str | None:
    """The pull request number from PR_NUMBER or a merge / squash commit message."""
    if env.get("PR_NUMBER", "").strip().isdigit():
        return env["PR_NUMBER"].strip()
    subject = commit_message.splitlines()[0] if commit_message else ""
    found = re.search(r"Merge pull request #(\d+)", subject) or re.search(
        r"\(#(\d+)\)\s*$", subject
    )
    return found.group(1) if found else None


def _rel(path: Path, repo: Path) -> str:
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise UserError(f"{path}: not inside the repository {repo}; promotion reads its "
                        "inputs at commits of this repository") from None  # fmt: skip


def version_tags(paths: Paths, params: Params, lock: dict[str, Any], commit: str) -> dict[str, str]:
    """Tags tying a version to its commit, data, params, model and dependency lock."""
    stages = lock.get("stages", {})
    model_key = _rel(paths.model, paths.repo)
    params_seen = {name: stage.get("params", {}) for name, stage in sorted(stages.items())}
    prepared_key = _rel(paths.prepared, paths.repo)
    tags = {
        **lineage.git_tags(paths.repo),
        lineage.COMMIT: commit,
        lineage.DATA: dvc_lock.lock_hash(lock, "prepare", params.data.raw) or "unknown",
        lineage.PREPARED: dvc_lock.lock_hash(lock, "prepare", prepared_key, "outs") or "unknown",
        lineage.MODEL: dvc_lock.lock_hash(lock, "train", model_key, "outs") or "unknown",
        lineage.PARAMS: _text_md5(json.dumps(params_seen, sort_keys=True, default=str)),
        lineage.REQUIREMENTS: md5(paths.requirements) if paths.requirements.is_file() else "none",
        lineage.MODEL_MD5: md5(paths.model),
        lineage.MODEL_SHA256: sha256_bytes(paths.model.read_bytes()),
        # What serving needs besides the model: the threshold it was evaluated at, and the
        # prepared splits it was trained and tested on.
        lineage.THRESHOLD: repr(params.evaluate.threshold),
        **{
            f"{lineage.DATA_PREFIX}{_rel(paths.prepared / name, paths.repo)}": md5(path)
            for name in ("train.parquet", "test.parquet")
            if (path := paths.prepared / name).is_file()
        },
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
    locked = dvc_lock.lock_hash(lock, "train", _rel(paths.model, paths.repo), "outs")
    actual = md5(paths.model)
    if locked != actual:
        raise UserError(
            f"{paths.model}: md5 {actual} does not match {paths.lock} ({locked or 'no entry'}); "
            "run `dvc repro` so the model is the one this commit builds"
        )
    return lock


def _training_run(params: Params, model_md5: str, schema: FeatureSchema) -> str | None:
    """The newest finished run that logged this model file with its feature schema, if any.

    A run killed while logging stays RUNNING, and an `evaluate`-only run carries the model's
    hash without the model: neither is registered. Nor is a model logged without this schema in
    its metadata (by an earlier release): the version must carry its schema and labels itself.
    """
    mlflow = tracking.use_server()
    if mlflow.get_experiment_by_name(params.mlflow.experiment) is None:
        return None
    found = mlflow.search_runs(
        experiment_names=[params.mlflow.experiment],
        filter_string=f"tags.`{lineage.MODEL_MD5}` = '{model_md5}' and "
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
        output_format="list",
    )
    client = tracking.client()
    wanted = json.loads(schema.to_json())
    for run in found:
        logged = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
        if "model/MLmodel" in logged and tracking.logged_schema(run.info.run_id) == wanted:
            return str(run.info.run_id)
    return None


def _log_model(paths: Paths, params: Params, test: pd.DataFrame, schema: FeatureSchema) -> str:
    """Log the model file to a new run (a tracking server that never saw this training)."""
    with redirect_stdout(io.StringIO()):  # MLflow prints a link to the run
        run_id = tracking.log_training(
            model_path=paths.model,
            example=features(test, schema).head(5),
            params=params,
            data_files=[paths.prepared / "train.parquet", paths.prepared / "test.parquet"],
            schema=schema,
        )
    failpoints.reached("run-logged")
    return run_id


def _scores(proba: np.ndarray, test: pd.DataFrame, schema: FeatureSchema, bar: Bar) -> Scores:
    y = test[schema.target].to_numpy(dtype=np.int8)
    return scores(y, proba, bar.threshold, bar.bootstrap, bar.seed)


def _proba(model: Any, test: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    return positive_proba(model, features(test, schema))


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


def _write_reports(out: Path, outcome: Outcome, name: str, manifest: bytes | None = None) -> None:
    data = {
        "model": name,
        "version": outcome.version,
        "promoted": outcome.decision.promote,
        "gto_tags": outcome.gto_tags,
        "rerun": outcome.rerun,
        "bar": outcome.bar,
        **outcome.decision.to_dict(),
    }
    write_json(out / "decision.json", data)
    write_text(out / "decision.md", champion.markdown(outcome.decision, name, outcome.version))
    write_text(out / "model_card.md", outcome.card)
    if manifest is not None:  # what the release carries beside the model file and its card
        write_bytes(out / git_record.MANIFEST_ASSET, manifest)


@dataclass(frozen=True)
class _Inputs:
    """Everything one promotion reads before it writes."""

    paths: Paths
    params: Params
    options: Options
    lock: dict[str, Any]
    commit: str
    schema: FeatureSchema
    test: pd.DataFrame


def promote(paths: Paths, params: Params, options: Options | None = None) -> Outcome:
    """Register this commit's model, decide champion against challenger, record the result."""
    options = options or Options()
    lock = _check_built(paths)
    commit = git.head_commit(paths.repo)
    if commit is None:
        raise UserError(f"{paths.repo}: not a git repository; promotion records a commit")
    branch = default_branch(paths.repo, options.branch)
    check_on_branch(paths.repo, commit, branch, options.force_reason)
    uri = tracking.tracking_uri()
    schema = FeatureSchema.read(paths.prepared / "schema.json")
    test = pd.read_parquet(paths.prepared / "test.parquet")
    inputs = _Inputs(paths, params, options, lock, commit, schema, test)
    with registry.errors_named(uri):
        return _promote(inputs, ModelRegistry(params.registry.model_name, uri))


def _manifest(name: str, version: registry.Version, schema: FeatureSchema) -> bytes:
    tags = git_record.manifest_tags(version.tags, {PENDING_TAG, GTO_TAGS, REBUILT_TAG})
    return git_record.manifest(name, version.version, tags, schema)


def _finished(version: registry.Version) -> Outcome:
    bar = version.tags.get(RULE_TAG)
    return Outcome(
        version=version.version,
        decision=champion.Decision.from_dict(json.loads(version.tags[DECISION_TAG])),
        gto_tags=json.loads(version.tags.get(GTO_TAGS, "[]")),
        card=version.description,
        rerun=True,
        bar=json.loads(bar) if bar else None,
    )


def _promote(inputs: _Inputs, reg: ModelRegistry) -> Outcome:
    paths, params, commit = inputs.paths, inputs.params, inputs.commit
    with reg.lock(timeout=inputs.options.lock_timeout) as lease:
        failpoints.reached("locked")
        git_tags.fetch_tags(paths.repo)
        git_record.check_against_tags(paths.repo, reg)
        version = reg.find_by_commit(commit)
        if version is not None and DECISION_TAG in version.tags:
            outcome = _finished(version)
            released = _manifest(reg.name, version, inputs.schema) if outcome.gto_tags else None
            _write_reports(paths.out, outcome, reg.name, released)
            return outcome
        current = reg.aliases().get(CHAMPION)
        champ = reg.get(current) if current is not None else None
        source = rule_commit(
            paths.repo,
            inputs.options.rule_from,
            lineage.read(champ.tags, lineage.COMMIT) if champ else None,
            commit,
        )
        bar = read_bar(paths.repo, _rel(paths.params, paths.repo), *source)
        same = champ is not None and lineage.read(champ.tags, lineage.MODEL_MD5) == md5(paths.model)
        if version is None and champ is not None and same:
            # A commit that did not change the model (docs, comments): nothing new to register.
            outcome = Outcome(
                version=champ.version,
                decision=champion.Decision(
                    promote=False,
                    reason=f"same model file as champion v{champ.version}: nothing registered",
                    metric=bar.rule.metric,
                    challenger=_scores(
                        _proba(load_model(paths.model), inputs.test, inputs.schema),
                        inputs.test,
                        inputs.schema,
                        bar,
                    ),
                ),
                gto_tags=[],
                card=champ.description,
                rerun=True,
                bar=bar.to_dict(),
            )
            _write_reports(paths.out, outcome, reg.name)
            return outcome
        # Both models must load before anything is written: a candidate file the allow-list
        # refuses is never registered, and a champion that does not load stops the promotion.
        champion_model = (
            reg.read_back(champ, "champion-hash")
            if champ is not None and (version is None or champ.version != version.version)
            else None
        )
        if version is None:
            load_model(paths.model)
            tags = version_tags(paths, params, inputs.lock, commit)
            if inputs.options.force_reason:
                tags[FORCED_TAG] = inputs.options.force_reason.strip()
            run_id = _training_run(params, tags[lineage.MODEL_MD5], inputs.schema) or _log_model(
                paths, params, inputs.test, inputs.schema
            )
            version = reg.register(run_id, tags)
            failpoints.reached("registered")
        reg.set_alias(CHALLENGER, version.version)
        failpoints.reached("challenger-alias")
        outcome, manifest = _decide_and_record(
            inputs, reg, lease, version, champ, champion_model, bar
        )
    _write_reports(paths.out, outcome, reg.name, manifest)
    return outcome


def _decide(
    inputs: _Inputs,
    reg: ModelRegistry,
    version: registry.Version,
    champ: registry.Version | None,
    champion_model: Any,
    bar: Bar,
) -> champion.Decision:
    """The decision: read back both models from the registry and apply the bar."""
    test, schema = inputs.test, inputs.schema
    new = _proba(reg.read_back(version, "artifact-hash"), test, schema)
    if champ is not None and champ.version == version.version:
        # A rerun after a crash that had already moved the alias: finish that decision.
        pending = version.tags.get(PENDING_TAG)
        if pending:
            return champion.Decision.from_dict(json.loads(pending))
        return champion.Decision(
            promote=True,
            reason="already champion",
            metric=bar.rule.metric,
            challenger=_scores(new, test, schema, bar),
        )
    if champ is None:
        return champion.decide(_scores(new, test, schema, bar), bar.rule, bar.floors)
    old = _proba(champion_model, test, schema)
    paired = paired_scores(
        test[schema.target].to_numpy(dtype=np.int8),
        new,
        old,
        bar.threshold,
        bar.bootstrap,
        bar.seed,
    )
    return champion.decide(paired.new, bar.rule, bar.floors, paired, champ.version)


def _card(inputs: _Inputs, version: registry.Version, decision: champion.Decision, bar: Bar) -> str:
    shown = {k: v for k, v in version.tags.items() if not k.startswith(("gitops_ml.", "metrics."))}
    shown["mlflow.run_id"] = version.run_id or "unknown"
    params = inputs.params
    return model_card.render(
        model_card.Card(
            name=params.registry.model_name,
            version=version.version,
            intended_use=params.registry.intended_use,
            limitations=list(params.registry.limitations),
            data=_data_facts(inputs.paths, params, inputs.lock),
            train_params={"seed": params.seed, **params.train.model_dump(mode="json")},
            decision=decision,
            lineage=shown,
            bar=bar.describe(),
            artifact_sha256=version.tags.get(lineage.ARTIFACT_SHA256),
            model_sha256=version.tags.get(lineage.MODEL_SHA256),
            threshold=version.tags.get(lineage.THRESHOLD),
            forced_off_main=version.tags.get(FORCED_TAG),
        )
    )


def _decide_and_record(
    inputs: _Inputs,
    reg: ModelRegistry,
    lease: Lease,
    version: registry.Version,
    champ: registry.Version | None,
    champion_model: Any,
    bar: Bar,
) -> tuple[Outcome, bytes | None]:
    decision = _decide(inputs, reg, version, champ, champion_model, bar)
    version = reg.get(version.version)  # with the hash recorded by the read-back
    already = champ is not None and champ.version == version.version
    replaced = decision.champion_version if already else (champ.version if champ else None)
    if not already:
        reg.tag(version.version, {PENDING_TAG: json.dumps(decision.to_dict(), sort_keys=True)})
        failpoints.reached("pending-decision")
    card = _card(inputs, version, decision, bar)
    shown = decision.challenger
    outcome_tags = {f"{lineage.METRIC_PREFIX}{k}": str(v) for k, v in shown.metrics.items()}
    outcome_tags.update({f"{lineage.METRIC_PREFIX}{k}_se": str(v) for k, v in shown.se.items()})
    outcome_tags[RULE_TAG] = json.dumps(bar.to_dict(), sort_keys=True)
    outcome_tags[DECISION_TAG] = json.dumps(decision.to_dict(), sort_keys=True)
    gto_tags: list[str] = []
    manifest: bytes | None = None
    repo, name, commit = inputs.paths.repo, reg.name, inputs.commit
    if decision.promote:
        # The manifest and the model file are pinned by the registration tag, so a registry
        # rebuilt from git checks the release's files against it (git_record).
        manifest = _manifest(name, replace(version, tags={**version.tags, **outcome_tags}),
                             inputs.schema)  # fmt: skip
        trailers = {
            git_record.VERSION_KEY: version.version,
            git_record.MODEL_KEY: version.tags.get(lineage.MODEL_SHA256)
            or sha256_bytes(inputs.paths.model.read_bytes()),
            git_record.MANIFEST_KEY: sha256_bytes(manifest),
        }
        gto_v = git_tags.gto_register(
            repo, name, commit, message=git_record.with_trailers(card, trailers)
        )
        assign = git_tags.gto_assign(
            repo,
            name,
            gto_v,
            message=git_record.with_trailers(
                f"Promote {name} v{version.version} ({gto_v}) to prod: {decision.reason}\n\n{card}",
                {
                    git_record.ACTION_KEY: "promote",
                    git_record.VERSION_KEY: version.version,
                    **({git_record.FROM_KEY: replaced} if replaced else {}),
                },
            ),
        )
        gto_tags = [f"{name}@{gto_v}", assign]
        if not already:
            lease.ensure()
            reg.move_champion(champ.version if champ else None, version.version)
    reg.describe(version.version, card)
    failpoints.reached("model-card")
    if version.run_id:
        reg.log_text(version.run_id, card, f"registry/v{version.version}/model_card.md")
        failpoints.reached("card-artifact")
    event = {
        "action": "promote" if decision.promote else "reject",
        "version": version.version,
        "from": replaced,
        "reason": decision.reason,
        "commit": commit,
        "gto_tags": gto_tags,
        "rule_from": bar.commit,
        "at": registry.now(),
    }
    if version.tags.get(FORCED_TAG):
        event["forced_off_main"] = version.tags[FORCED_TAG]
    reg.record_event(event)
    failpoints.reached("event")
    # The decision tag goes last: its presence marks the version as fully processed.
    decided = outcome_tags.pop(DECISION_TAG)
    reg.tag(
        version.version, {**outcome_tags, GTO_TAGS: json.dumps(gto_tags), DECISION_TAG: decided}
    )
    failpoints.reached("decision")
    outcome = Outcome(version.version, decision, gto_tags, card, rerun=False, bar=bar.to_dict())
    return outcome, manifest


# Every step at which a crash is survivable, in the order a promotion reaches them (the fault
# test kills `promote` at each): after taking the lock, after each registry write and tag push.
STEPS = (
    "locked",
    "champion-hash",
    "run-logged",
    "registered",
    "challenger-alias",
    "artifact-hash",
    "pending-decision",
    "gto-register",
    "gto-assign",
    "previous-alias",
    "champion-version-alias",
    "champion-alias",
    "model-card",
    "card-artifact",
    "event",
    "decision",
)
