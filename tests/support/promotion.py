"""Helpers of the promotion tests: git repositories with a bare `origin`, model variants trained
in-process and recorded in dvc.lock, and promotion run as the CLI runs it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gitops_ml.core.params import Params, load_params
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.model_files import save_model
from gitops_ml.pipeline.train import fit
from gitops_ml.release import promotion

from ..conftest import run


def git_out(repo: Path, env: dict[str, str], *args: str) -> str:
    """The stripped output of a git command that must succeed."""
    return run(["git", *args], repo, env).stdout.strip()


def set_params(repo: Path, model_name: str, **registry: Any) -> Params:
    """The registry settings of the tests: their own model name, a floor, a quick bootstrap."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["registry"].update({"model_name": model_name, "metric": "roc_auc"})
    raw["gates"]["floors"] = {"roc_auc": 0.75}
    raw["registry"].update({"margin": 0.0, "noise": 1.0, **registry})
    raw["evaluate"]["bootstrap"] = 30  # enough for the decisions of the tests, and quick
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_params(repo / "params.yaml")


def build_variant(
    repo: Path, env: dict[str, str], message: str, *, push: bool = True, **model: Any
) -> str:
    """Train a model variant in-process, record it in dvc.lock, commit and (unless `push` is
    False) push it to origin's main, as a merge would; return the commit."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["train"]["model"].update(model)
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(repo / "params.yaml")
    prepared = repo / "data" / "prepared"
    schema = FeatureSchema.read(prepared / "schema.json")
    train = pd.read_parquet(prepared / "train.parquet")
    save_model(fit(train, schema, params.train, params.seed), repo / "models" / "model.skops")
    run(["dvc", "commit", "-q", "-f", "train"], repo, env)
    git_out(repo, env, "add", "-A")
    git_out(repo, env, "commit", "-q", "-m", message)
    if push:
        git_out(repo, env, "push", "-q", "origin", "main")
    return git_out(repo, env, "rev-parse", "HEAD")


def paths_of(repo: Path) -> promotion.Paths:
    """The promotion's inputs and outputs in `repo`, as dvc.yaml and the CLI name them."""
    return promotion.Paths(
        repo=repo,
        model=repo / "models" / "model.skops",
        prepared=repo / "data" / "prepared",
        lock=repo / "dvc.lock",
        requirements=repo / "requirements" / "requirements.txt",
        out=repo / "reports" / "promotion",
    )


def promote_here(
    repo: Path, monkeypatch: pytest.MonkeyPatch, options: promotion.Options | None = None
) -> promotion.Outcome:
    """Run `promote` in-process from the repository root, as the CLI does."""
    monkeypatch.chdir(repo)
    return promotion.promote(paths_of(repo), load_params(repo / "params.yaml"), options)


def tags_of(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """Tag → commit of every tag a repository holds."""
    fmt = "%(refname:short) %(*objectname)"
    out = run(["git", "for-each-ref", f"--format={fmt}", "refs/tags"], repo, env).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def point_at(
    registry_uri: str, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point both subprocesses (the environment returned) and in-process calls at a registry."""
    for key, value in tool_env.items():
        if key.startswith(("GIT_", "DVC_", "MLFLOW_")) or key == "HOME":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)
    monkeypatch.delenv("PR_NUMBER", raising=False)
    return {**tool_env, "MLFLOW_TRACKING_URI": registry_uri}


def clone_prepared(
    prepared_repo: Path, repo: Path, origin: Path, env: dict[str, str], model_name: str
) -> Path:
    """A copy of the prepared repository at `repo` registering `model_name`, pushed to the bare
    `origin` (created by the first copy; later copies start from its main)."""
    shutil.copytree(prepared_repo, repo, symlinks=True)
    set_params(repo, model_name)
    git_out(repo, env, "add", "-A")
    git_out(repo, env, "commit", "-q", "-m", "Registry settings for tests")
    if not origin.exists():
        run(["git", "init", "-q", "--bare", str(origin)], repo.parent, env)
        git_out(repo, env, "remote", "add", "origin", str(origin))
        git_out(repo, env, "push", "-q", "origin", "main")
    else:
        git_out(repo, env, "remote", "add", "origin", str(origin))
        git_out(repo, env, "fetch", "-q", "origin")
        git_out(repo, env, "reset", "-q", "--hard", "origin/main")
    return repo
