"""The act harness itself: each stand-in does and records what the hosted action would."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from ..conftest import ROOT, run
from .act import PROJECT_VENV, local_repository_flags, remote_uses, run_workflow
from .github import FakeGitHub, push_event

PROBE = textwrap.dedent(
    """\
    name: probe
    on: pull_request
    permissions: {}
    jobs:
      probe:
        runs-on: ubuntu-latest
        timeout-minutes: 5
        permissions:
          contents: read
          pull-requests: write
        steps:
          - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
            with:
              fetch-depth: FETCH_DEPTH
              persist-credentials: false
          - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0
            with:
              python-version: "3.11"
          - id: cache
            uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5
            with:
              path: .venv
              key: venv-${{ hashFiles('params.txt') }}
          - run: echo "$GITHUB_WORKSPACE/.venv/bin" >> "$GITHUB_PATH"
          - id: probe
            env:
              HIT: ${{ steps.cache.outputs.cache-hit }}
            run: |
              dvc="$(readlink -f "$(command -v dvc)")"
              echo "head=$(git rev-parse HEAD) hit=$HIT act=$ACT dvc=$dvc"
              git branch -r
              make -q setup && echo "make setup: up to date"
              mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt
              echo "# hello from the probe" >> "$GITHUB_STEP_SUMMARY"
          - uses: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0
            with:
              name: things
              path: out
          - run: npm install --global @dvcorg/cml@0.20.6
          - env:
              REPO_TOKEN: ${{ github.token }}
            run: |
              echo "first" > body.md
              cml comment update --target=pr --watermark-title=Probe --publish=false body.md
              echo "second" > body.md
              cml comment update --target=pr --watermark-title=Probe --publish=false body.md
    """
)


@pytest.fixture
def probe_repo(tmp_path: Path, tool_env: dict[str, str]) -> tuple[Path, FakeGitHub]:
    """A two-commit repository with the probe workflow, its pull request branch, and origin."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "probe.yml").write_text(PROBE.replace("FETCH_DEPTH", "0"))
    (repo / "params.txt").write_text("a: 1\n")
    for name in ("Makefile", "pyproject.toml", "requirements"):  # what `make setup` checks
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, repo / name)
    run(["git", "init", "-q", "-b", "main"], repo, tool_env)
    run(["git", "add", "-A"], repo, tool_env)
    run(["git", "commit", "-q", "-m", "base"], repo, tool_env)
    hub = FakeGitHub.create(tmp_path / "github", repo, tool_env)
    run(["git", "checkout", "-q", "-b", "feature"], repo, tool_env)
    (repo / "params.txt").write_text("a: 2\n")
    run(["git", "commit", "-q", "-am", "change a"], repo, tool_env)
    return repo, hub


def test_it_maps_every_action_to_a_stand_in(tmp_path: Path) -> None:
    """It maps each pinned action to its stand-in and refuses an action it has none for."""
    workflow = tmp_path / "w.yml"
    workflow.write_text(PROBE.replace("FETCH_DEPTH", "0"))
    flags = local_repository_flags(workflow)
    assert len(remote_uses(workflow)) == 4
    assert flags.count("--local-repository") == 4
    assert any(f.startswith("actions/checkout@3d3c42e5") and f.endswith("/checkout") for f in flags)
    workflow.write_text(PROBE + "      - uses: someone/else@" + "0" * 40 + "\n")
    with pytest.raises(LookupError, match="no act stand-in for someone/else"):
        local_repository_flags(workflow)


def test_stand_ins_do_and_record_what_the_actions_would(
    probe_repo: tuple[Path, FakeGitHub], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """Checkout fetches the merge ref with full history; cache, artifact, npm and cml record."""
    repo, hub = probe_repo
    event = hub.open_pull_request(7, repo, "feature")
    first = run_workflow(
        repo / ".github/workflows/probe.yml", "pull_request", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
    )  # fmt: skip
    assert first.job_results == {"probe": "success"}, first.explain()
    merge = hub.sha("refs/pull/7/merge")
    [checkout] = first.calls("checkout")
    assert checkout["ref"] == "refs/pull/7/merge"
    assert checkout["head"] == merge
    assert checkout["shallow"] is False
    assert checkout["inputs"]["persist-credentials"] == "false"
    # The restored .venv is the workspace's own (running the checked-out code with the provided
    # environment's packages), not a link to the provided environment.
    [probe] = re.findall(rf"head={merge} hit=true act=true dvc=(\S+)", first.output)
    assert probe.startswith(str(tmp_path / "act"))
    assert probe.endswith("/.venv/bin/dvc")
    assert not probe.startswith(str(PROJECT_VENV))
    # The restored environment is the project's, yet make sees nothing to reinstall into it.
    assert "make setup: up to date" in first.output
    assert "origin/feature" in first.output
    assert "origin/main" in first.output
    assert first.calls("cache")[0]["inputs"]["key"].startswith("venv-")
    assert first.summary == "# hello from the probe\n"
    artifact = first.artifact("things")
    assert sorted(str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()) == [
        "a.txt",
        "sub/b.txt",
    ]
    assert first.calls("npm")[0]["argv"] == ["install", "--global", "@dvcorg/cml@0.20.6"]
    [comment] = hub.comments(7)
    # CML's own layout: the body, then its watermark image naming the title.
    assert comment["body"].startswith("second\n")
    assert comment["body"].endswith('"CML watermark Probe")')
    assert comment["updates"] == 1
    assert comment["watermark"] == "Probe"

    shallow = tmp_path / "shallow.yml"
    shallow.write_text(PROBE.replace("FETCH_DEPTH", "1"))
    second = run_workflow(
        shallow, "pull_request", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env,
    )  # fmt: skip
    assert second.job_results == {"probe": "success"}, second.explain()
    assert second.calls("checkout")[0]["shallow"] is True
    assert "origin/main" not in second.output
    assert [c["updates"] for c in hub.comments(7)] == [3]


def test_cml_stand_in_refuses_a_read_only_token(
    probe_repo: tuple[Path, FakeGitHub], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """With a fork's read-only token the comment call fails, as it does on GitHub."""
    repo, hub = probe_repo
    event = hub.open_pull_request(8, repo, "feature", fork="someone/churn")
    done = run_workflow(
        repo / ".github/workflows/probe.yml", "pull_request", event,
        workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env, token="read",
    )  # fmt: skip
    assert done.job_results == {"probe": "failure"}
    assert done.returncode != 0
    assert hub.comments(8) == []
    assert "Resource not accessible by integration" in hub.cml_store()["calls"][0]["result"]
    assert event["pull_request"]["head"]["repo"]["full_name"] == "someone/churn"
    assert "refs/heads/feature" not in run(["git", "show-ref"], hub.origin, tool_env).stdout


PUSH = textwrap.dedent(
    """\
    name: on-push
    on:
      push:
        branches: [main]
    permissions: {}
    jobs:
      show:
        runs-on: ubuntu-latest
        timeout-minutes: 5
        permissions:
          contents: read
        steps:
          - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
          - run: |
              echo "branch=$(git branch --show-current) head=$(git rev-parse HEAD) ref=$GITHUB_REF"
          - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
            with:
              ref: refs/tags/v0.1
              path: tagged
          - run: echo "tagged=$(git -C tagged describe --tags)"
    """
)


def test_push_event_checks_out_the_pushed_branch(
    probe_repo: tuple[Path, FakeGitHub], tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """On a push to main, checkout gives the branch itself at the pushed commit, shallow."""
    repo, hub = probe_repo
    run(["git", "checkout", "-q", "main"], repo, tool_env)
    workflow = tmp_path / "push.yml"
    workflow.write_text(PUSH)
    run(["git", "tag", "v0.1", "main~0"], repo, tool_env)
    run(["git", "push", "-q", "origin", "v0.1"], repo, tool_env)
    head = hub.sha("refs/heads/main")
    event = push_event(ref="refs/heads/main", before="0" * 40, after=head)
    done = run_workflow(
        workflow, "push", event, workdir=repo, github=hub, scratch=tmp_path / "act", env=tool_env
    )
    assert done.job_results == {"show": "success"}, done.explain()
    assert f"branch=main head={head} ref=refs/heads/main" in done.output
    assert done.calls("checkout")[0]["shallow"] is True
    assert "tagged=v0.1" in done.output
