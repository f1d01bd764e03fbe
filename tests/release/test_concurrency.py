"""Four promotions started at once, each from its own clone and commit of main, end with
consistent versions, aliases, history and git tags, on a fresh SQLite store, an existing one and
a tracking server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_ml.infra import lineage, tracking
from gitops_ml.release import git_tags
from gitops_ml.release.registry import CHAMPION, DECISION_TAG, ModelRegistry

from ..conftest import BIN
from ..support.promotion import build_variant, git_out

pytestmark = pytest.mark.slow

PARALLEL = 4


@pytest.fixture(params=["fresh SQLite store", "existing SQLite store", "tracking server"])
def registry_uri(request: Any, tmp_path: Path) -> str:
    """The registry the four promotions share."""
    if request.param == "tracking server":
        return str(request.getfixturevalue("mlflow_server"))
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    if request.param == "existing SQLite store":
        (tmp_path / "shared").mkdir()
        tracking.client(uri).search_experiments()  # tables made by an earlier command
        assert (tmp_path / "shared" / "mlflow.db").stat().st_size > 0
    return uri


def test_simultaneous_promotions_leave_one_consistent_story(
    make_repo: Callable[[], Path], env: dict[str, str], model_name: str, registry_uri: str
) -> None:
    """Every promotion succeeds; each decision was made against the champion its predecessor
    left; each commit has one version; aliases and origin's tags agree; the lock is free."""
    clones = []
    commits = []
    for n in range(PARALLEL):
        clone = make_repo()  # at origin/main as the previous variants left it
        commits.append(build_variant(clone, env, f"Variant {n}", max_iter=8 + 4 * n))
        clones.append(clone)
    procs = [
        subprocess.Popen(
            [str(BIN / "gitops-ml"), "promote"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err

    reg = ModelRegistry(model_name, registry_uri)
    versions = reg.versions()
    assert sorted(lineage.read(v.tags, lineage.COMMIT) or "" for v in versions) == sorted(commits)
    assert all(DECISION_TAG in v.tags for v in versions)
    events = reg.events()
    assert sorted(e["commit"] for e in events) == sorted(commits)
    champion = None
    for event in events:  # the history is one sequence of decisions, no lost update
        assert event["from"] == champion, events
        if event["action"] == "promote":
            champion = event["version"]
    aliases = reg.aliases()
    assert aliases[CHAMPION] == champion
    promoted = [e for e in events if e["action"] == "promote"]
    origin = clones[0].parent / "origin.git"
    prod = git_out(origin, env, "tag", "-l", f"{model_name}#prod#*").split()
    assert len(prod) == len(promoted)
    latest = git_tags.latest_assignment(origin, model_name)
    assert latest is not None
    assert latest[1] == lineage.read(reg.get(champion or "").tags, lineage.COMMIT)
    assert not [m for m in reg.client.search_registered_models() if m.name.endswith(".lock")]
