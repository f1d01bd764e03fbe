"""The report's rules on in-memory data: noise, gate, params diff, lock checks, charts."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from gitops_ml import charts, gates, report
from gitops_ml.errors import ParamsError
from gitops_ml.params import GatesParams

ROOT = Path(__file__).resolve().parents[1]


def _metrics(**values: float) -> dict[str, float]:
    """Metrics with a bootstrap error of 0.01 on every metric given."""
    out = dict(values)
    out.update({f"{k}_se": 0.01 for k in values})
    return out


def _change(changes: list[gates.Change], metric: str) -> gates.Change:
    return next(c for c in changes if c.metric == metric)


# ------------------------------------------------------------------ noise rule


def test_noise_band_combines_both_errors() -> None:
    """The band is z times the root of the summed squared errors."""
    assert gates.noise_band(0.03, 0.04, 2.0) == pytest.approx(0.1)


def test_change_beyond_noise_is_directional() -> None:
    """A rise beyond noise is better for roc_auc and worse for log_loss; a small one is neither."""
    base = _metrics(roc_auc=0.80, log_loss=0.40, f1=0.50)
    branch = _metrics(roc_auc=0.85, log_loss=0.45, f1=0.51)
    changes = gates.compare(base, branch, z=1.96)
    band = 1.96 * math.sqrt(2) * 0.01
    auc, loss, f1 = (_change(changes, m) for m in ("roc_auc", "log_loss", "f1"))
    assert auc.noise == pytest.approx(band)
    assert (auc.delta, auc.beyond_noise, auc.direction) == (pytest.approx(0.05), True, 1)
    assert (loss.beyond_noise, loss.direction, loss.higher_is_better) == (True, -1, False)
    assert (f1.beyond_noise, f1.direction) == (False, 0)
    assert [c.metric for c in changes] == ["roc_auc", "log_loss", "f1"]


def test_compare_without_base_has_no_deltas() -> None:
    """With no baseline every metric has a value but no change."""
    changes = gates.compare(None, _metrics(roc_auc=0.8), z=1.96)
    assert [(c.metric, c.base, c.branch, c.delta, c.direction) for c in changes] == [
        ("roc_auc", None, 0.8, None, 0)
    ]


# ------------------------------------------------------------------ gate rules


def _gate(base: dict[str, float] | None, branch: dict[str, float], **rules: Any) -> list[Any]:
    settings = GatesParams(**rules)
    checks = gates.check(settings, gates.compare(base, branch, settings.noise_z), branch)
    return [(c.rule, c.metric, c.passed, c.applies) for c in checks]


def test_floor_is_a_minimum_or_a_maximum_by_direction() -> None:
    """roc_auc must reach its floor; log_loss must stay at or under its ceiling."""
    branch = _metrics(roc_auc=0.79, log_loss=0.45)
    assert _gate(None, branch, floors={"roc_auc": 0.80, "log_loss": 0.50}) == [
        ("floor", "roc_auc", False, True),
        ("floor", "log_loss", True, True),
    ]
    assert _gate(None, branch, floors={"roc_auc": 0.75, "log_loss": 0.40}) == [
        ("floor", "roc_auc", True, True),
        ("floor", "log_loss", False, True),
    ]


def test_floor_fails_when_metric_is_missing() -> None:
    """A floor on a metric the branch did not report fails rather than passing silently."""
    assert _gate(None, _metrics(roc_auc=0.9), floors={"f1": 0.5}) == [("floor", "f1", False, True)]


def test_max_drop_counts_only_beyond_noise() -> None:
    """A drop larger than allowed but within noise passes; beyond noise it fails."""
    base = _metrics(roc_auc=0.85)
    within = _metrics(roc_auc=0.83)  # drop 0.02 < band 0.0277
    beyond = _metrics(roc_auc=0.80)  # drop 0.05 > band
    assert _gate(base, within, max_drop={"roc_auc": 0.01}) == [("max_drop", "roc_auc", True, True)]
    assert _gate(base, beyond, max_drop={"roc_auc": 0.01}) == [("max_drop", "roc_auc", False, True)]
    assert _gate(base, beyond, max_drop={"roc_auc": 0.06}) == [("max_drop", "roc_auc", True, True)]


def test_max_drop_respects_lower_is_better() -> None:
    """For log_loss a rise is the drop; a fall is an improvement and always passes."""
    base = _metrics(log_loss=0.40)
    assert _gate(base, _metrics(log_loss=0.50), max_drop={"log_loss": 0.03}) == [
        ("max_drop", "log_loss", False, True)
    ]
    assert _gate(base, _metrics(log_loss=0.30), max_drop={"log_loss": 0.0}) == [
        ("max_drop", "log_loss", True, True)
    ]


def test_must_improve_needs_a_change_beyond_noise() -> None:
    """must_improve passes only on an improvement beyond noise, and is skipped with no base."""
    base = _metrics(roc_auc=0.80)
    assert _gate(base, _metrics(roc_auc=0.81), must_improve="roc_auc") == [
        ("must_improve", "roc_auc", False, True)
    ]
    assert _gate(base, _metrics(roc_auc=0.85), must_improve="roc_auc") == [
        ("must_improve", "roc_auc", True, True)
    ]
    assert _gate(None, _metrics(roc_auc=0.85), must_improve="roc_auc", max_drop={"roc_auc": 0}) == [
        ("max_drop", "roc_auc", True, False),
        ("must_improve", "roc_auc", True, False),
    ]


def test_gates_reject_unknown_metric() -> None:
    """A gate on a metric the evaluate stage does not compute is a params error."""
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        GatesParams(floors={"auc": 0.5})
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        GatesParams(must_improve="auc")


def test_select_gates_prefers_base_then_falls_back() -> None:
    """The base's gates apply; with none there, the branch's; an invalid base gate is named."""
    branch = GatesParams(floors={"roc_auc": 0.5})
    chosen, source = report.select_gates({"gates": {"floors": {"roc_auc": 0.9}}}, branch, "abc")
    assert (chosen.floors, source) == ({"roc_auc": 0.9}, "base")
    assert report.select_gates({"seed": 1}, branch, "abc") == (branch, "branch")
    assert report.select_gates(None, branch, "abc") == (branch, "branch")
    with pytest.raises(ParamsError, match=r"abc:params\.yaml: invalid gates.*gates\.noise_z"):
        report.select_gates({"gates": {"noise_z": -1}}, branch, "abc")


# ------------------------------------------------------------------ params, lock, status


def test_params_diff_uses_dotted_keys() -> None:
    """Changed, added and removed leaves are listed by dotted key; equal ones are not."""
    base = {"seed": 1, "train": {"model": {"max_iter": 200, "lr": 0.1}, "w": None}}
    branch = {"seed": 1, "train": {"model": {"max_iter": 100}, "w": None}, "gates": {"a": [1]}}
    assert report.params_diff(base, branch) == [
        {"key": "gates.a", "base": None, "branch": [1], "kind": "added"},
        {"key": "train.model.lr", "base": 0.1, "branch": None, "kind": "removed"},
        {"key": "train.model.max_iter", "base": 200, "branch": 100, "kind": "changed"},
    ]


LOCK = {
    "stages": {
        "prepare": {
            "cmd": "prep",
            "deps": [{"path": "raw.csv", "md5": "r1", "size": 10}],
            "params": {"params.yaml": {"seed": 1}},
            "outs": [{"path": "prepared", "md5": "p1"}],
        },
        "train": {
            "cmd": "train --a\n  --b",
            "deps": [{"path": "prepared", "md5": "p1"}, {"path": "train.py", "md5": "t1"}],
            "params": {"params.yaml": {"train": {"max_iter": 200}}},
            "outs": [{"path": "model.skops", "md5": "m1"}],
        },
    }
}


def _relocked(**changes: Any) -> dict[str, Any]:
    lock = json.loads(json.dumps(LOCK))
    for dotted, value in changes.items():
        stage, *path = dotted.split("__")
        node = lock["stages"][stage]
        for key in path[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        node[path[-1]] = value
    return lock


def test_lock_differences_ignore_produced_outputs() -> None:
    """A retrained model's new hash is not staleness; other params, code or data are."""
    assert report.lock_differences(LOCK, _relocked(train__outs__0__md5="m2")) == []
    assert report.lock_differences(LOCK, _relocked(train__cmd="train --a --b")) == []
    stale = report.lock_differences(
        LOCK, _relocked(train__params={"params.yaml": {"train": {"max_iter": 1}}})
    )
    assert stale == ["the committed dvc.lock has other params for stage train"]
    assert report.lock_differences(LOCK, _relocked(prepare__deps__0__md5="r2")) == [
        "the committed dvc.lock has other code or data for stage prepare"
    ]
    assert report.lock_differences(None, LOCK) == ["dvc.lock is not committed"]


def test_status_problems_separate_stale_from_absent() -> None:
    """Changed params or code are stale; outputs merely missing from the workspace are not."""
    status = {
        "train": [
            {"changed deps": {"params.yaml": {"train": "modified"}, "prepared": "deleted"}},
            {"changed outs": {"model.skops": "not in cache"}},
        ],
        "prepare": [{"changed deps": {"raw.csv": "modified"}}, "changed command"],
    }
    stale, missing = report.status_problems(status, LOCK)
    assert stale == [
        "stage prepare: deps raw.csv modified",
        "stage prepare: changed command",
        "stage train: deps params.yaml (train modified)",
    ]
    assert missing == ["model.skops", "prepared"]
    assert report.status_problems({}, LOCK) == ([], [])


def test_raw_data_reads_the_prepare_dependency() -> None:
    """The raw file's md5 and size come from the prepare stage's deps in dvc.lock."""
    params = {"data": {"raw": "raw.csv"}}
    assert report.raw_data(params, LOCK) == report.RawData("raw.csv", "r1", 10)
    assert report.raw_data(params, None) == report.RawData("raw.csv", None, None)
    assert report.raw_data(None, LOCK) == report.RawData(None, None, None)


def test_run_url_only_in_github_actions() -> None:
    """The run link is built from GitHub's variables, and only inside Actions."""
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert report.run_url(env) is None
    assert report.run_url({**env, "GITHUB_ACTIONS": "true"}) == (
        "https://github.com/o/r/actions/runs/42"
    )


# ------------------------------------------------------------------ charts


ROC = [
    {"fpr": 0.0, "tpr": 0.0},
    {"fpr": 0.0, "tpr": 0.5},
    {"fpr": 0.5, "tpr": 0.9},
    {"fpr": 1, "tpr": 1},
]
PRC = [
    {"recall": 1.0, "precision": 0.3},
    {"recall": 0.5, "precision": 0.8},
    {"recall": 0, "precision": 1},
]
CAL = [{"predicted": 0.1, "observed": 0.2}, {"predicted": 0.5, "observed": 0.4}]


def test_roc_on_grid_is_the_best_reachable_rate() -> None:
    """At each false positive rate the ROC step curve gives the best true positive rate so far."""
    assert charts.roc_on_grid(ROC, [0.0, 0.25, 0.5, 1.0]) == [0.5, 0.5, 0.9, 1.0]


def test_pr_on_grid_is_interpolated_precision() -> None:
    """Precision at recall r is the best precision at any recall ≥ r."""
    assert charts.pr_on_grid(PRC, [0.0, 0.5, 0.75, 1.0]) == [1.0, 0.8, 0.3, 0.3]


def test_calibration_on_grid_interpolates_inside_and_holds_outside() -> None:
    """Between bins the observed rate is linear; beyond them it holds the outer value."""
    assert charts.calibration_on_grid(CAL, [0.0, 0.3, 0.9]) == pytest.approx([0.2, 0.3, 0.4])


def test_curve_chart_overlays_base_branch_and_reference() -> None:
    """A chart is one mermaid xychart-beta block with one line per side plus the diagonal."""
    block = charts.curve_chart("roc", ROC, ROC[:3])
    lines = block.splitlines()
    assert lines[0] == "```mermaid"
    assert lines[-1] == "```"
    assert lines[2] == "xychart-beta"
    assert 'x-axis "False positive rate" 0 --> 1' in block
    data = [re.findall(r"[\d.]+", ln) for ln in lines if ln.strip().startswith("line [")]
    assert len(data) == 3
    assert all(len(values) == charts.GRID_STEPS + 1 for values in data)
    assert all(0.0 <= float(v) <= 1.0 for values in data for v in values)
    palette = json.loads(lines[1].removeprefix("%%{init: ").removesuffix("}%%"))
    assert palette["themeVariables"]["xyChart"]["plotColorPalette"].count("#") == 3
    no_base = charts.curve_chart("prc", None, PRC)
    assert no_base.count("  line [") == 1


# ------------------------------------------------------------------ whole report, no git


def _side(sha: str, metrics: dict[str, float] | None, gates_section: Any = None) -> report.Side:
    params: dict[str, Any] = {"data": {"raw": "raw.csv"}, "evaluate": {"threshold": 0.5}}
    if gates_section is not None:
        params["gates"] = gates_section
    plots = {"roc": ROC, "prc": PRC, "calibration": CAL} if metrics else {}
    return report.Side(sha=sha, metrics=metrics, params=params, plots=plots, lock=LOCK)


CLEAN = report.Reproducibility([], [], True, [])


def test_build_without_baseline_passes_on_floors() -> None:
    """A base without metrics gives a passing 'no baseline yet' report; floors still apply."""
    branch = _side("b" * 40, _metrics(roc_auc=0.85), {"floors": {"roc_auc": 0.8}})
    out = report.build(
        _side("a" * 40, None),
        branch,
        base_rev="main",
        branch_gates=GatesParams(floors={"roc_auc": 0.8}, max_drop={"roc_auc": 0.01}),
        branch_data=report.RawData("raw.csv", "r1", 10),
        repro=CLEAN,
    )
    assert out["passed"] is True
    assert out["reason"].startswith("no baseline yet")
    assert out["base"]["has_baseline"] is False
    assert out["gate"]["source"] == "branch"
    assert [(c["rule"], c["applies"], c["passed"]) for c in out["gate"]["checks"]] == [
        ("floor", True, True),
        ("max_drop", False, True),
    ]
    assert out["data"]["changed"] is False
    md = report_markdown_render(out, _side("a" * 40, None), branch)
    assert md.splitlines()[0].startswith("✅ **Passed**: no baseline yet")
    assert "**No baseline yet**" in md
    failing = report.build(
        _side("a" * 40, None),
        branch,
        base_rev="main",
        branch_gates=GatesParams(floors={"roc_auc": 0.9}),
        branch_data=report.RawData("raw.csv", "r1", 10),
        repro=CLEAN,
    )
    assert failing["passed"] is False
    assert failing["reason"] == "roc_auc 0.8500 is below the floor 0.9."


def test_build_puts_staleness_first_with_the_fix() -> None:
    """A stale lock fails the report, and the reason names the commands that fix it."""
    base = _side("a" * 40, _metrics(roc_auc=0.85))
    stale = report.Reproducibility(["stage train: deps params.yaml (train modified)"], [], True, [])
    out = report.build(
        base,
        _side("b" * 40, _metrics(roc_auc=0.85)),
        base_rev="main",
        branch_gates=GatesParams(),
        branch_data=report.RawData("raw.csv", "r1", 10),
        repro=stale,
    )
    assert out["passed"] is False
    assert "dvc repro" in out["reason"]
    assert "commit `dvc.lock` and `eval/`" in out["reason"]
    assert out["reproducibility"]["fix"] == report.FIX


def report_markdown_render(out: dict[str, Any], base: report.Side, branch: report.Side) -> str:
    """Render through the real markdown module (kept here to make the import explicit)."""
    from gitops_ml import report_markdown

    return report_markdown.render(out, base, branch)
