"""The report's judgement on in-memory sides: whose gate applies, what changed, the verdict."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest

from gitops_ml.core.errors import ParamsError
from gitops_ml.core.params import GatesParams
from gitops_ml.review import markdown, sides, verdict
from gitops_ml.review.reproducibility import FIX, Reproducibility
from gitops_ml.review.sides import RawData, Side

from .sample import CAL, LOCK, PRC, ROC
from .sample import metrics_with_se as _metrics


def report_rows(changes: list[Any]) -> list[dict[str, Any]]:
    return [asdict(c) for c in changes]


def test_select_gates_prefers_base_then_falls_back() -> None:
    """The base's gates apply; with none there, the branch's; an invalid base gate is named."""
    branch = GatesParams(floors={"roc_auc": 0.5})
    chosen, source = verdict.select_gates({"gates": {"floors": {"roc_auc": 0.9}}}, branch, "abc")
    assert (chosen.floors, source) == ({"roc_auc": 0.9}, "base")
    assert verdict.select_gates({"seed": 1}, branch, "abc") == (branch, "branch")
    assert verdict.select_gates(None, branch, "abc") == (branch, "branch")
    with pytest.raises(ParamsError, match=r"abc:params\.yaml: invalid gates.*gates\.noise_z"):
        verdict.select_gates({"gates": {"noise_z": -1}}, branch, "abc")


def test_params_diff_uses_dotted_keys() -> None:
    """Changed, added and removed leaves are listed by dotted key; equal ones are not."""
    base = {"seed": 1, "train": {"model": {"max_iter": 200, "lr": 0.1}, "w": None}}
    branch = {"seed": 1, "train": {"model": {"max_iter": 100}, "w": None}, "gates": {"a": [1]}}
    assert report_rows(verdict.params_diff(base, branch)) == [
        {"key": "gates.a", "base": None, "branch": [1], "kind": "added"},
        {"key": "train.model.lr", "base": 0.1, "branch": None, "kind": "removed"},
        {"key": "train.model.max_iter", "base": 200, "branch": 100, "kind": "changed"},
    ]


def test_raw_data_reads_the_prepare_dependency() -> None:
    """The raw file's md5 and size come from the prepare stage's deps in dvc.lock."""
    params = {"data": {"raw": "raw.csv"}}
    assert sides.raw_data(params, LOCK) == RawData("raw.csv", "r1", 10)
    assert sides.raw_data(params, None) == RawData("raw.csv", None, None)
    assert sides.raw_data(None, LOCK) == RawData(None, None, None)


def test_run_url_only_in_github_actions() -> None:
    """The run link is built from GitHub's variables, and only inside Actions."""
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert verdict.run_url(env) is None
    assert verdict.run_url({**env, "GITHUB_ACTIONS": "true"}) == (
        "https://github.com/o/r/actions/runs/42"
    )


def _side(sha: str, metrics: dict[str, float] | None, gates_section: Any = None) -> Side:
    params: dict[str, Any] = {"data": {"raw": "raw.csv"}, "evaluate": {"threshold": 0.5}}
    if gates_section is not None:
        params["gates"] = gates_section
    plots = {"roc": ROC, "prc": PRC, "calibration": CAL} if metrics else {}
    return Side(sha=sha, metrics=metrics, params=params, plots=plots, lock=LOCK)


CLEAN = Reproducibility([], [], True, [])


def test_build_without_baseline_passes_on_floors() -> None:
    """A base without metrics gives a passing 'no baseline yet' report; floors still apply."""
    branch = _side("b" * 40, _metrics(roc_auc=0.85), {"floors": {"roc_auc": 0.8}})
    out = verdict.build(
        _side("a" * 40, None),
        branch,
        base_rev="main",
        branch_gates=GatesParams(floors={"roc_auc": 0.8}, max_drop={"roc_auc": 0.01}),
        branch_data=RawData("raw.csv", "r1", 10),
        repro=CLEAN,
    )
    assert out.passed is True
    assert out.reason.startswith("no baseline yet")
    assert out.base.has_baseline is False
    assert out.gate.source == "branch"
    assert [(c.rule, c.applies, c.passed) for c in out.gate.checks] == [
        ("floor", True, True),
        ("max_drop", False, True),
    ]
    assert out.data.changed is False
    assert out.to_dict()["data"]["changed"] is False
    md = markdown.render(out, _side("a" * 40, None), branch)
    assert md.splitlines()[0].startswith("✅ **Passed**: no baseline yet")
    assert "**No baseline yet**" in md
    failing = verdict.build(
        _side("a" * 40, None),
        branch,
        base_rev="main",
        branch_gates=GatesParams(floors={"roc_auc": 0.9}),
        branch_data=RawData("raw.csv", "r1", 10),
        repro=CLEAN,
    )
    assert failing.passed is False
    assert failing.reason == "roc_auc 0.8500 is below the floor 0.9."


def test_build_puts_staleness_first_with_the_fix() -> None:
    """A stale lock fails the report, and the reason names the commands that fix it."""
    base = _side("a" * 40, _metrics(roc_auc=0.85))
    stale = Reproducibility(["stage train: deps params.yaml (train modified)"], [], True, [])
    out = verdict.build(
        base,
        _side("b" * 40, _metrics(roc_auc=0.85)),
        base_rev="main",
        branch_gates=GatesParams(),
        branch_data=RawData("raw.csv", "r1", 10),
        repro=stale,
    )
    assert out.passed is False
    assert "dvc repro" in out.reason
    assert "commit `dvc.lock` and `eval/`" in out.reason
    assert out.to_dict()["reproducibility"]["fix"] == FIX


def test_params_are_read_as_dvc_writes_them() -> None:
    """An unquoted `Yes` (as `dvc exp run -S` writes params.yaml) stays a label, not a boolean."""
    assert sides.parse("data:\n  positive_label: Yes\n", "params.yaml", "yaml") == {
        "data": {"positive_label": "Yes"}
    }


def test_the_cost_section_puts_each_command_beside_the_base_s() -> None:
    """Recorded timings become one row per stage command, the base's value first where it has
    one; a base that committed none is said, and a branch with none gets no section."""
    recorded = {
        "evaluate": {"wall_seconds": 1.93, "peak_memory_mb": 257.9},
        "track": {"wall_seconds": 1.56, "peak_memory_mb": 1244.4},
    }

    def cost(
        base_timings: dict[str, Any] | None, branch_timings: dict[str, Any] | None
    ) -> list[str]:
        base = replace(_side("a" * 40, _metrics(roc_auc=0.85)), timings=base_timings)
        branch = replace(_side("b" * 40, _metrics(roc_auc=0.85)), timings=branch_timings)
        report = verdict.build(
            base,
            branch,
            base_rev="main",
            branch_gates=GatesParams(),
            branch_data=RawData("raw.csv", "r1", 10),
            repro=CLEAN,
        )
        assert report.to_dict()["cost"] == {"base": base_timings, "branch": branch_timings}
        md = markdown.render(report, base, branch).splitlines()
        return md[md.index("### Cost") : md.index("### Cost") + 8] if "### Cost" in md else []

    lines = cost({"evaluate": {"wall_seconds": 2.5, "peak_memory_mb": 370.0}}, recorded)
    assert lines[2:6] == [
        "| command | wall time | peak memory |",
        "|---|--:|--:|",
        "| evaluate | 2.5 s → 1.9 s | 370.0 MB → 257.9 MB |",
        "| track | 1.6 s | 1,244.4 MB |",
    ]
    assert "(base → this branch)" in lines[7]
    assert "the base committed no eval/timings.json" in cost(None, recorded)[7]
    assert cost(None, None) == []
