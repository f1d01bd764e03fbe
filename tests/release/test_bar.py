"""The promotion bar comes from main before the change, and only commits on main are promoted.

Real git repositories; the promotions run against a real SQLite tracking store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitops_ml.core.errors import ParamsError, UserError
from gitops_ml.core.metrics import Difference, Paired
from gitops_ml.release import bar, champion, promotion
from gitops_ml.release.registry import CHAMPION, ModelRegistry

from ..conftest import BIN, run
from ..support.promotion import build_variant, git_out, promote_here

BETTER = {"max_iter": 30, "max_leaf_nodes": 8, "learning_rate": 0.1}
WORSE = {"max_iter": 3, "max_leaf_nodes": 4}


def _lower_the_bar(repo: Path, env: dict[str, str]) -> str:
    """A params-only commit on main: floors lowered, noise raised; no stage changes."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["gates"]["floors"] = {"roc_auc": 0.5}
    raw["registry"]["noise"] = 1000.0
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    git_out(repo, env, "commit", "-q", "-am", "Relax the promotion rule")
    git_out(repo, env, "push", "-q", "origin", "main")
    return git_out(repo, env, "rev-parse", "HEAD")


@pytest.mark.example_data  # the variants' AUC order holds on the example
@pytest.mark.slow
def test_a_params_only_commit_cannot_lower_its_own_bar(
    make_repo: Callable[[], Path], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a worse model was rejected, a commit that only lowers floors and raises noise
    registers that model again, and it is rejected again: the bar is main's before the push.
    With the bar the commit sets, the same numbers would have promoted it."""
    repo = make_repo()
    c1 = build_variant(repo, env, "A good model", **BETTER)
    assert promote_here(repo, monkeypatch).decision.promote
    c2 = build_variant(repo, env, "A much worse model", **WORSE)
    rejected = promote_here(repo, monkeypatch)
    assert not rejected.decision.promote
    c3 = _lower_the_bar(repo, env)
    # promote.yml passes the push's `before`: c2, main before the params-only commit.
    again = promote_here(repo, monkeypatch, promotion.Options(rule_from=c2))
    assert again.version == "3"
    assert not again.decision.promote, again.decision.reason
    assert "worse beyond noise" in again.decision.reason
    assert again.bar is not None
    assert (again.bar["commit"], again.bar["source"]) == (c2, "main before the push")
    assert again.bar["noise"] == 1.0
    reg = ModelRegistry(name_of(repo), env["MLFLOW_TRACKING_URI"])
    assert reg.aliases()[CHAMPION] == "1"
    card = (repo / "reports" / "promotion" / "model_card.md").read_text()
    assert f"Promotion rule read from params.yaml at {c2[:12]} (main before the push)." in card
    # The commit's own bar would have let the worse model through on the same scores.
    own = bar.read_bar(repo, "params.yaml", c3, "this commit")
    decision = again.decision
    assert decision.champion is not None
    assert decision.delta is not None
    assert decision.delta_se is not None
    metric = decision.metric
    difference = Difference(
        metric,
        decision.challenger.metrics[metric],
        decision.champion.metrics[metric],
        decision.delta,
        decision.delta_se,
    )
    paired = Paired(decision.challenger, decision.champion, {metric: difference})
    assert champion.decide(decision.challenger, own.rule, own.floors, paired, "1").promote
    # A manual run (no `before`) reads the bar from the champion's commit.
    assert bar.rule_commit(repo, None, c1, c3) == (c1, "the champion's commit")


def name_of(repo: Path) -> str:
    """The registered model name of a test repository."""
    return str(yaml.safe_load((repo / "params.yaml").read_text())["registry"]["model_name"])


def test_where_the_bar_is_read(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """`before` when given and known; the champion's commit for a manual run (or a `before`
    GitHub sends as zeros, or one not in the repository); the commit itself before any
    champion; a champion's commit missing from the history is an error."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git_out(repo, tool_env, "init", "-q", "-b", "main")
    commits = []
    for n in range(3):
        git_out(repo, tool_env, "commit", "-q", "--allow-empty", "-m", f"c{n}")
        commits.append(git_out(repo, tool_env, "rev-parse", "HEAD"))
    first, second, third = commits
    assert bar.rule_commit(repo, first, second, third) == (first, "main before the push")
    assert bar.rule_commit(repo, "0" * 40, second, third) == (second, "the champion's commit")
    assert bar.rule_commit(repo, "f" * 40, second, third) == (second, "the champion's commit")
    assert bar.rule_commit(repo, None, None, third) == (third, "this commit: no champion yet")
    with pytest.raises(UserError, match=r"is not in .* fetch the full history"):
        bar.rule_commit(repo, None, "e" * 40, third)


def test_the_bar_is_read_as_it_was_at_its_commit(
    tmp_path: Path, tool_env: dict[str, str], params_text: str
) -> None:
    """Floors, rule and scoring settings come from params.yaml at the commit, not the file in
    the workspace; a malformed section there is an error naming the commit and the key."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git_out(repo, tool_env, "init", "-q", "-b", "main")
    (repo / "params.yaml").write_text(params_text)
    git_out(repo, tool_env, "add", "params.yaml")
    git_out(repo, tool_env, "commit", "-q", "-m", "params")
    strict = git_out(repo, tool_env, "rev-parse", "HEAD")
    (repo / "params.yaml").write_text(params_text.replace("noise: 1.0", "noise: 1000"))
    found = bar.read_bar(repo, "params.yaml", strict, "main before the push")
    raw = yaml.safe_load(params_text)
    assert found.rule.noise == raw["registry"]["noise"] == 1.0
    assert found.floors == raw["gates"]["floors"]
    assert (found.threshold, found.bootstrap, found.seed) == (
        raw["evaluate"]["threshold"],
        raw["evaluate"]["bootstrap"],
        raw["seed"],
    )
    (repo / "params.yaml").write_text(params_text.replace("noise: 1.0", "noise: -1"))
    git_out(repo, tool_env, "commit", "-q", "-am", "broken")
    broken = git_out(repo, tool_env, "rev-parse", "HEAD")
    with pytest.raises(ParamsError, match=rf"{broken[:12]}:params.yaml: noise: "):
        bar.read_bar(repo, "params.yaml", broken, "x")


@pytest.fixture
def params_text() -> str:
    """The project's params.yaml, as text."""
    from ..conftest import ROOT

    return (ROOT / "params.yaml").read_text()


@pytest.mark.slow
def test_a_commit_off_main_is_refused_unless_forced_with_a_reason(
    make_repo: Callable[[], Path], env: dict[str, str]
) -> None:
    """A commit only on a side branch is refused; forced, it is promoted and the reason is in
    the version's tags, the history and the model card."""
    repo = make_repo()
    git_out(repo, env, "checkout", "-q", "-b", "hotfix")
    commit = build_variant(repo, env, "Not merged", push=False, **BETTER)
    refused = run([str(BIN / "gitops-ml"), "promote"], repo, env, check=False)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert f"commit {commit[:12]} is not on the default branch (origin/main)" in refused.stderr
    assert "--force-off-main --reason" in refused.stderr
    no_reason = run([str(BIN / "gitops-ml"), "promote", "--force-off-main"], repo, env, check=False)
    assert no_reason.returncode == 1
    assert "--force-off-main: give the reason with --reason" in no_reason.stderr
    reason = "hotfix for incident 42, reviewed by the on-call lead"
    forced = run(
        [str(BIN / "gitops-ml"), "promote", "--force-off-main", "--reason", reason], repo, env
    )
    assert "v1: promoted to champion" in forced.stdout
    assert f"not on origin/main: {reason}" in forced.stderr
    reg = ModelRegistry(name_of(repo), env["MLFLOW_TRACKING_URI"])
    assert reg.get("1").tags[promotion.FORCED_TAG] == reason
    assert reg.events()[-1]["forced_off_main"] == reason
    card = (repo / "reports" / "promotion" / "model_card.md").read_text()
    assert f"**Promoted off the default branch, forced:** {reason}" in card
    decision = json.loads((repo / "reports" / "promotion" / "decision.json").read_text())
    assert decision["promoted"] is True


def test_the_default_branch_is_found_or_named(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """origin's HEAD, else origin/main, else main; a name given is looked up on origin first;
    none found is an error that says how to name it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git_out(repo, tool_env, "init", "-q", "-b", "trunk")
    git_out(repo, tool_env, "commit", "-q", "--allow-empty", "-m", "c")
    with pytest.raises(UserError, match=r"cannot find the default branch .* --default-branch"):
        bar.default_branch(repo, None)
    assert bar.default_branch(repo, "trunk") == "trunk"
    git_out(repo, tool_env, "branch", "main")
    assert bar.default_branch(repo, None) == "main"
