"""Tests about the example dataset are left out once `gitops-ml init` replaced it, and only then."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import conftest
from .conftest import BIN, ROOT, run

LEFT_OUT = re.compile(r"^(\d+) example-data test\(s\) left out: params\.yaml's data\.raw", re.M)


def collect_example_tests(root: Path, env: dict[str, str]) -> tuple[list[str], int]:
    """Collect (not run) a project's `example_data` tests: ids selected, how many left out."""
    collect = ["--collect-only", "-q", "-n0", "-p", "no:cacheprovider", "-m", "example_data"]
    done = run(
        [str(BIN / "pytest"), *collect],
        root,
        {**env, "VIRTUAL_ENV": str(BIN.parent)},
        check=False,
    )
    # Exit 5 is "no tests collected": what a project on other data must give.
    assert done.returncode in (0, 5), done.stdout + done.stderr
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    left_out = LEFT_OUT.search(done.stdout)
    return selected, int(left_out.group(1)) if left_out else 0


@dataclass
class _Item:
    """Just enough of a pytest item for the hook: its markers."""

    name: str
    markers: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


class _Hook:
    def __init__(self) -> None:
        self.deselected: list[object] = []

    def pytest_deselected(self, items: list[object]) -> None:
        self.deselected.extend(items)


@dataclass
class _Config:
    hook: _Hook = field(default_factory=_Hook)
    stash: pytest.Stash = field(default_factory=pytest.Stash)


def test_other_data_leaves_out_exactly_the_example_data_tests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With data.raw naming other data, marked tests are deselected (reported), others kept."""
    monkeypatch.setattr(conftest, "uses_example_data", lambda: False)
    example, generic = _Item("a", {"example_data"}), _Item("b", {"slow"})
    items: list[object] = [example, generic]
    config = _Config()
    conftest.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert items == [generic]
    assert config.hook.deselected == [example]
    assert config.stash[conftest._LEFT_OUT] == 1


@pytest.mark.example_data
def test_the_template_leaves_out_nothing(tool_env: dict[str, str]) -> None:
    """In the template itself (data.raw is the example) every example-data test is collected."""
    assert conftest.uses_example_data()
    items: list[object] = [_Item("a", {"example_data"}), _Item("b")]
    config = _Config()
    conftest.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert len(items) == 2
    assert config.hook.deselected == []
    selected, left_out = collect_example_tests(ROOT, tool_env)
    assert left_out == 0
    behaviour = "tests/pipeline/test_model_behaviour.py"
    assert f"{behaviour}::test_month_to_month_contract_scores_higher_risk" in selected
    assert f"tests/test_example_data.py::{test_the_template_leaves_out_nothing.__name__}" in (
        selected
    )
