"""promote.yml and rollback.yml under act with no tracking server and an empty cache every run:
the registry is rebuilt from origin's GTO tags and the releases' files, so a merge after an
eviction registers the next version number and a rollback restores the previous champion.

The cache stand-in restores nothing but the environment, as after an eviction; GitHub's API is
the `gh` stand-in, which keeps the releases that promote.yml publishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_ml.core.params import load_params

from ..conftest import ROOT, run
from ..support.promotion import build_variant, tags_of
from ..workflows.act import ActRun, run_workflow
from ..workflows.github import FakeGitHub, push_event, workflow_dispatch_event

pytestmark = pytest.mark.slow

WORKFLOWS = ROOT / ".github" / "workflows"
BETTER = {"max_iter": 30, "max_leaf_nodes": 8, "learning_rate": 0.1}


def _promote(hub: FakeGitHub, repo: Path, before: str, scratch: Path, env: dict[str, str],
             remote: Path) -> ActRun:  # fmt: skip
    event = push_event(ref="refs/heads/main", before=before, after=hub.sha("refs/heads/main"))
    done = run_workflow(
        WORKFLOWS / "promote.yml", "push", event,
        workdir=repo, github=hub, scratch=scratch, env=env,
        secrets={"DVC_REMOTE_URL": str(remote)},
    )  # fmt: skip
    assert done.job_results == {"promote": "success"}, done.explain()
    return done


@pytest.mark.example_data  # the variant beats the shipped model on the example
def test_a_merge_and_a_rollback_after_an_eviction_continue_the_registry(
    repo_copy: Callable[[], Path], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """v1 is promoted; the cache is gone for the next merge, which registers v2 (not a second
    v1) against champion v1; the cache is gone again for Rollback, which restores v1 from the
    tags and the release's model file."""
    repo = repo_copy()
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "ci", str(remote)], repo, tool_env)
    run(["dvc", "push", "-q", "--run-cache", "-r", "ci"], repo, tool_env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "Retrain (#5)"], repo, tool_env)
    hub = FakeGitHub.create(tmp_path / "github", repo, tool_env)
    name = load_params(repo / "params.yaml").registry.model_name
    c1 = hub.sha("refs/heads/main")
    first = _promote(hub, repo, "0" * 40, tmp_path / "act", tool_env, remote)
    assert json.loads((first.artifact("promotion") / "decision.json").read_text())["version"] == "1"

    # A second merge; this job's cache restores no registry (evicted).
    c2 = build_variant(repo, tool_env, "Deeper trees (#6)", **BETTER)
    run(["dvc", "push", "-q", "--run-cache", "-r", "ci"], repo, tool_env)
    second = _promote(hub, repo, c1, tmp_path / "act", tool_env, remote)
    registry_cache = [
        c for c in second.calls("cache") if c["inputs"]["key"].startswith("registry-")
    ]
    assert [c["hit"] for c in registry_cache] == [False]
    assert second.step_result("promote") == "success"
    assert "rebuilt from origin's tags and the releases' files (registered v1)" in second.output
    decision = json.loads((second.artifact("promotion") / "decision.json").read_text())
    assert decision["version"] == "2"
    assert decision["champion_version"] == "1"
    assert decision["promoted"] is True, decision["reason"]
    assert decision["gto_tags"] == [f"{name}@v1.1.0", f"{name}#prod#2"]
    store = json.loads((hub.api / "gh.json").read_text())
    notes = {r["tag"]: r["notes"].splitlines()[0] for r in store["releases"]}
    assert notes == {
        f"{name}@v1.0.0": f"# Model card: {name} v1",
        f"{name}@v1.1.0": f"# Model card: {name} v2",
    }
    assert all(r["assets"] == ["model.skops", "model_card.md", "version.json"]
               for r in store["releases"])  # fmt: skip
    downloads = [c["argv"] for c in store["calls"] if c["argv"][:2] == ["release", "download"]]
    assert [d[2] for d in downloads] == [f"{name}@v1.0.0"]

    # Rollback, dispatched by hand, again with no registry in the cache.
    event = workflow_dispatch_event({"version": "", "reason": "v2 mislabels new customers"})
    done = run_workflow(
        WORKFLOWS / "rollback.yml", "workflow_dispatch", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
    )  # fmt: skip
    assert done.job_results == {"rollback": "success"}, done.explain()
    assert "- champion: v1" in done.summary
    assert "- previous champion: v2" in done.summary
    assert "| rollback | v1 | v2 | v2 mislabels new customers |" in done.summary
    assert tags_of(hub.origin, tool_env) == {
        f"{name}@v1.0.0": c1,
        f"{name}@v1.1.0": c2,
        f"{name}#prod#1": c1,
        f"{name}#prod#2": c2,
        f"{name}#prod#3": c1,
    }
