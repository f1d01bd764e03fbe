"""Every workflow follows the policy: SHA pins, timeouts, explicit permissions, no injection."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ..conftest import ROOT
from .policy import check_workflow

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_the_project_has_its_workflows() -> None:
    """It finds the workflows it is meant to police (an empty glob would pass vacuously)."""
    assert {"ci.yml", "pr.yml"} <= {w.name for w in WORKFLOWS}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_workflow_follows_the_policy(workflow: Path) -> None:
    """The workflow file has no policy violation."""
    assert check_workflow(workflow.read_text(encoding="utf-8")) == []


BAD = textwrap.dedent(
    """\
    name: bad
    on: pull_request_target
    permissions: write-all
    jobs:
      build:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97
          - uses: ./.github/actions/local
          - name: Greet
            run: echo "${{ github.event.pull_request.title }}"
          - run: |
              echo ${{ inputs.name }}
              git checkout ${{github.head_ref}}
          - env:
              TITLE: ${{ github.event.pull_request.title }}
            run: echo "$TITLE ${{ github.sha }} ${{ github.event_name }}"
      fine:
        runs-on: ubuntu-latest
        timeout-minutes: 5
        permissions:
          contents: write
        steps:
          - uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5
    """
)


def test_checker_catches_a_bad_workflow() -> None:
    """It names each violation: tag pins, a pin without version, permissions, timeout, injection."""
    assert check_workflow(BAD) == [
        "line 8: `uses: actions/checkout@v4` is not pinned to a commit SHA",
        "line 9: `uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97`"
        " lacks a `# vX.Y.Z` comment",
        "top-level `permissions` must be {} or read-only, got 'write-all'",
        "job `build` has no `timeout-minutes`",
        "job `build` does not declare its `permissions`",
        "job `build` step Greet: `${{ github.event.pull_request.title }}` inside `run:`"
        " (pass it through `env:`)",
        "job `build` step #5: `${{ inputs.name }}` inside `run:` (pass it through `env:`)",
        "job `build` step #5: `${{github.head_ref}}` inside `run:` (pass it through `env:`)",
    ]


@pytest.mark.parametrize(
    ("permissions", "ok"),
    [("{}", True), ("read-all", True), ("{contents: read}", True), ("{contents: write}", False)],
)
def test_top_level_permissions_must_be_read_only(permissions: str, ok: bool) -> None:
    """Top-level permissions pass only when empty or read-only; a missing block is reported."""
    text = f"on: push\npermissions: {permissions}\njobs: {{}}\n"
    assert (check_workflow(text) == []) is ok
    assert check_workflow("on: push\njobs: {}\n") == ["top-level `permissions` is missing"]
