"""PNG figures are deterministic: the same plot data always gives the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gitops_ml.core.curves import calibration_points, pr_points, roc_points
from gitops_ml.infra import figures

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.05])


def test_figures_are_deterministic_pngs(tmp_path: Path) -> None:
    """The same plot data always gives the same PNG bytes."""
    plots = {
        "roc": roc_points(Y, P),
        "prc": pr_points(Y, P),
        "calibration": calibration_points(Y, P, bins=2),
        "confusion": [{"actual": a, "predicted": b} for a, b in ["11", "10", "00", "00", "01"]],
        "importance": [{"feature": "a", "importance": 0.1, "std": 0.01}],
    }
    first = figures.render_all(plots, tmp_path / "a")
    second = figures.render_all(plots, tmp_path / "b")
    assert [p.name for p in first] == [
        "roc.png",
        "prc.png",
        "calibration.png",
        "confusion.png",
        "importance.png",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes().startswith(b"\x89PNG")
        assert a.read_bytes() == b.read_bytes()
