"""Shared infrastructure: a DVC remote on S3-compatible storage, and MLflow on PostgreSQL.

Every part is a real process on loopback: moto's S3-compatible server, PostgreSQL from
Debian's package, `mlflow server`, git repositories with a bare `origin`, `dvc`, and the
workflow scripts the pull-request and promotion jobs run.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitops_ml.core.model import features
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.files import md5
from gitops_ml.infra.model_files import load_model

from ..conftest import BIN, ROOT, run
from ..support.infra import S3Server, SharedTracking

SCRIPTS = ROOT / ".github" / "scripts"


def _commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    run(["git", "add", "-A"], repo, env)
    if run(["git", "status", "--porcelain"], repo, env).stdout.strip():
        run(["git", "commit", "-q", "-m", message], repo, env)


def _outputs(repo: Path) -> dict[str, str]:
    """sha256 of every file under the DVC-cached outputs that dvc.lock records."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    found: dict[str, str] = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            path = repo / out["path"]
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                rel = file.relative_to(repo).as_posix()
                found[rel] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def _lock_md5(repo: Path, stage: str, path: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    [md5_] = [o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path]
    return str(md5_)


def _object_key(prefix: str, md5_: str) -> str:
    """Where a DVC 3 remote keeps the object of that md5."""
    return f"{prefix}/files/md5/{md5_[:2]}/{md5_[2:]}"


def _recording_shim(bin_dir: Path, log: Path) -> None:
    """A `gitops-ml` that logs its arguments, then runs the real one: every stage command
    goes through it once it is first on PATH."""
    bin_dir.mkdir()
    shim = bin_dir / "gitops-ml"
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{BIN / "gitops-ml"}" "$@"\n')
    shim.chmod(0o755)


@pytest.mark.slow
def test_fresh_clone_restores_every_stage_from_the_s3_run_cache(
    reproduced: Path, s3_server: S3Server, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """One clone reproduces and pushes to an S3 remote; a fresh clone with an empty cache and
    no dvc.lock then gets every stage from the run-cache by `dvc repro --pull`, running no
    stage command, and ends with byte-identical outputs and the same dvc.lock."""
    bucket = s3_server.bucket("dvc-remote")
    # The first clone keeps its credentials in .dvc/config.local, as docs/remote-and-tracking.md
    # says; the remote's address and endpoint are committed in .dvc/config.
    first = tmp_path / "first"
    shutil.copytree(reproduced, first, symlinks=True)
    env = s3_server.env(tool_env)
    secret = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    no_credentials = {k: v for k, v in env.items() if k not in secret}
    dvc_remote = ["dvc", "remote"]
    run([*dvc_remote, "add", "-d", "storage", f"s3://{bucket}/cache"], first, no_credentials)
    run([*dvc_remote, "modify", "storage", "endpointurl", s3_server.endpoint], first, env)
    for option in ("access_key_id", "secret_access_key"):
        run([*dvc_remote, "modify", "--local", "storage", option, "testing"], first, env)
    run(["dvc", "repro"], first, no_credentials)
    run(["dvc", "push", "--run-cache"], first, no_credentials)
    pushed = s3_server.keys(bucket, "cache/")
    assert len([key for key in pushed if key.startswith("cache/runs/")]) == 3
    # DVC leaves out the git-tracked (`cache: false`) outputs that the run-cache entries name:
    # without them a clone re-runs `evaluate`. `gitops-ml push-run-cache` sends them too.
    metrics_key = _object_key("cache", _lock_md5(first, "evaluate", "eval/metrics.json"))
    assert metrics_key not in pushed
    done = run(["gitops-ml", "push-run-cache"], first, no_credentials)
    # metrics.json, slices.json, predictions.csv and the five plot files
    assert done.stdout.strip().endswith(", 8 git-tracked output files")
    assert metrics_key in s3_server.keys(bucket, "cache/")
    _commit_all(first, env, "Share results through the team's S3 remote")
    assert "config.local" not in run(["git", "ls-files", ".dvc"], first, env).stdout

    # A fresh clone: no DVC cache, its own site cache, credentials from AWS_* variables only,
    # and a recording `gitops-ml` first on PATH.
    second = tmp_path / "second"
    run(["git", "clone", "-q", str(first), str(second)], tmp_path, env)
    assert not (second / ".dvc" / "cache").exists()
    assert not (second / ".dvc" / "config.local").exists()
    assert not (second / "models" / "model.skops").exists()
    # Without dvc.lock nothing names the outputs' hashes: only the run-cache, keyed by each
    # stage's command, dependencies and params, can restore them.
    (second / "dvc.lock").unlink()
    calls = tmp_path / "gitops-ml-calls.log"
    _recording_shim(tmp_path / "shim", calls)
    fresh_env = {
        **env,
        "PATH": f"{tmp_path / 'shim'}:{env['PATH']}",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "site-cache-second"),
    }

    done = run(["dvc", "repro", "--pull"], second, fresh_env)

    assert not calls.exists(), f"stage commands ran:\n{calls.read_text()}\n{done.stdout}"
    for stage in ("prepare", "train", "evaluate"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in done.stdout
    assert (second / "dvc.lock").read_bytes() == (first / "dvc.lock").read_bytes()
    expected = _outputs(first)
    assert {"models/model.skops", "data/prepared/train.parquet"} <= expected.keys()
    assert _outputs(second) == expected
    status = run(["dvc", "status"], second, fresh_env)
    assert "Data and pipelines are up to date." in status.stdout
    # The shim is the `gitops-ml` a stage command gets (so its silence above means something).
    run(["sh", "-c", "gitops-ml --help >/dev/null"], second, fresh_env)
    assert calls.read_text() == "--help\n"


@pytest.mark.slow
def test_pull_request_to_promotion_on_shared_tracking(
    reproduced: Path, shared_tracking: SharedTracking, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """A developer trains against the shared MLflow server (runs in PostgreSQL, artifacts in
    S3) and shares the results on the S3 DVC remote; the PR job restores them and passes the
    gate; once merged, the promotion job registers the model with its lineage, makes it
    champion and pushes main's results."""
    shared, s3 = shared_tracking, shared_tracking.s3
    dvc_bucket = s3.bucket("team-dvc")
    # The developer's and the workflows' environment (their secrets and variables). No S3
    # endpoint for MLflow: artifacts go through the tracking server.
    env = {
        **s3.env(tool_env),
        "MLFLOW_TRACKING_URI": shared.server.uri,
        "OMP_NUM_THREADS": "1",
    }
    ci_env = {
        **env,
        "DVC_REMOTE_URL": f"s3://{dvc_bucket}/cache",
        "DVC_REMOTE_ENDPOINT_URL": s3.endpoint,
        "DVC_SITE_CACHE_DIR": str(tmp_path / "ci-site-cache"),
    }
    dev, origin = tmp_path / "dev", tmp_path / "origin.git"
    shutil.copytree(reproduced, dev, symlinks=True)
    _commit_all(dev, env, "Reproduce the pipeline")
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)
    run(["git", "remote", "add", "origin", str(origin)], dev, env)
    run(["git", "push", "-q", "origin", "main"], dev, env)
    run(["dvc", "remote", "add", "--local", "-d", "team", f"s3://{dvc_bucket}/cache"], dev, env)
    run(["dvc", "remote", "modify", "--local", "team", "endpointurl", s3.endpoint], dev, env)

    # The developer's pull request: retrained (logged to the shared server), results shared.
    run(["git", "checkout", "-q", "-b", "fewer-iterations"], dev, env)
    params_path = dev / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["train"]["model"]["max_iter"] = 100
    params["evaluate"]["bootstrap"] = 30  # quick, and plenty for this gate
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "-q"], dev, env)
    run(["gitops-ml", "push-run-cache"], dev, env)
    _commit_all(dev, env, "Fewer boosting iterations")
    run(["git", "push", "-q", "origin", "fewer-iterations"], dev, env)

    # The PR job, in a fresh clone, with its own script: restores instead of retraining.
    pr = tmp_path / "ci-pr"
    run(["git", "clone", "-q", "-b", "fewer-iterations", str(origin), str(pr)], tmp_path, env)
    restored = run([str(SCRIPTS / "pr-review.sh"), "reproduce"], pr, ci_env)
    assert "DVC remote configured" in restored.stdout
    assert "Running stage" not in restored.stdout
    assert md5(pr / "models" / "model.skops") == md5(dev / "models" / "model.skops")
    outputs = tmp_path / "pr_output"
    report_env = {**ci_env, "BASE_REF": "main", "GITHUB_OUTPUT": str(outputs)}
    run([str(SCRIPTS / "pr-review.sh"), "report"], pr, report_env)
    assert outputs.read_text() == "gate=pass\n"

    # Merged; the promotion job, in a fresh clone of main.
    run(["git", "checkout", "-q", "main"], dev, env)
    merge_message = "Merge pull request #21 from team/fewer-iterations"
    run(["git", "merge", "-q", "--no-ff", "-m", merge_message, "fewer-iterations"], dev, env)
    run(["git", "push", "-q", "origin", "main"], dev, env)
    merge = run(["git", "rev-parse", "HEAD"], dev, env).stdout.strip()
    repo = tmp_path / "ci-main"
    run(["git", "clone", "-q", str(origin), str(repo)], tmp_path, env)
    promote_env = {**ci_env, "GITHUB_OUTPUT": str(tmp_path / "promote_output")}
    promote_env["DVC_SITE_CACHE_DIR"] = str(tmp_path / "ci-main-site-cache")
    restored = run([str(SCRIPTS / "promote.sh"), "reproduce"], repo, promote_env)
    assert "Running stage" not in restored.stdout
    run([str(SCRIPTS / "promote.sh"), "promote"], repo, promote_env)
    promoted = (tmp_path / "promote_output").read_text().splitlines()
    assert promoted[:2] == ["promoted=true", "version=1"]

    # Through MLflow: the PR's training run, the registered version, its lineage, the alias.
    from mlflow import MlflowClient

    client = MlflowClient(shared.server.uri, registry_uri=shared.server.uri)
    name = params["registry"]["model_name"]
    model_md5 = md5(repo / "models" / "model.skops")
    experiment = client.get_experiment_by_name(params["mlflow"]["experiment"])
    [train_run] = client.search_runs(
        [experiment.experiment_id], f"tags.`gitops_ml.model_md5` = '{model_md5}'"
    )
    assert train_run.data.params["train.model.max_iter"] == "100"
    assert train_run.data.tags["git.branch"] == "fewer-iterations"
    metrics = yaml.safe_load((repo / "eval" / "metrics.json").read_text())
    assert train_run.data.metrics["roc_auc"] == metrics["roc_auc"]
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.version == "1"
    assert champion.run_id == train_run.info.run_id
    assert champion.tags["git.commit"] == merge
    assert champion.tags["pr"] == "21"
    assert champion.tags["dvc.model.md5"] == model_md5
    assert champion.tags["gitops_ml.model_md5"] == model_md5

    # The same facts, read from PostgreSQL itself.
    pg, db = shared.postgres, shared.database
    alias_sql = "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = %s"
    assert pg.query(db, alias_sql, name, "champion") == [(1,)]
    tag_sql = "SELECT value FROM model_version_tags WHERE name = %s AND version = 1 AND key = %s"
    assert pg.query(db, tag_sql, name, "git.commit") == [(merge,)]
    run_sql = "SELECT status FROM runs WHERE run_uuid = %s"
    assert pg.query(db, run_sql, train_run.info.run_id) == [("FINISHED",)]

    # The model's files are in the S3 bucket, and they are this model.
    location = client.get_model_version_download_uri(name, champion.version)
    assert location.startswith("mlflow-artifacts:/"), location
    prefix = f"{shared.prefix}/{location.removeprefix('mlflow-artifacts:/')}"
    keys = s3.keys(shared.bucket, prefix)
    assert {f"{prefix}/MLmodel", f"{prefix}/model.skops"} <= set(keys)
    from_s3 = tmp_path / "from-s3.skops"
    from_s3.write_bytes(s3.read(shared.bucket, f"{prefix}/model.skops"))
    prepared = repo / "data" / "prepared"
    x = features(
        pd.read_parquet(prepared / "test.parquet"), FeatureSchema.read(prepared / "schema.json")
    )
    np.testing.assert_array_equal(
        load_model(from_s3).predict_proba(x),
        load_model(repo / "models" / "model.skops").predict_proba(x),
    )
    run_prefix = f"{shared.prefix}/{experiment.experiment_id}/{train_run.info.run_id}/artifacts"
    assert f"{run_prefix}/registry/v1/model_card.md" in s3.keys(shared.bucket, run_prefix)

    # main's results reached the DVC remote: the model, the metrics and the run-cache.
    dvc_keys = set(s3.keys(dvc_bucket, "cache/"))
    assert _object_key("cache", model_md5) in dvc_keys
    assert _object_key("cache", _lock_md5(repo, "evaluate", "eval/metrics.json")) in dvc_keys
    assert any(key.startswith("cache/runs/") for key in dvc_keys)


def test_push_run_cache_without_a_remote_says_so(
    repo_copy: Callable[[], Path], tool_env: dict[str, str]
) -> None:
    """With no DVC remote configured it fails with one message naming the cause, no traceback."""
    done = run(["gitops-ml", "push-run-cache"], repo_copy(), tool_env, check=False)
    assert done.returncode == 1
    assert "error: dvc push to the default remote failed: NoRemoteError: " in done.stderr
    assert "Traceback" not in done.stderr
