"""Mermaid charts of the curves: resampled on one grid, base and branch overlaid."""

from __future__ import annotations

import json
import re

import pytest

from gitops_ml.review import mermaid as charts

from .sample import CAL, PRC, ROC


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
