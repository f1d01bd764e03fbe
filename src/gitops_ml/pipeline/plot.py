"""The evaluate stage's second command: the figures (PNG) drawn from `evaluate`'s plot data.

A process of its own, between `evaluate` and `track` (dvc.yaml): matplotlib is loaded here
only, so neither of the others carries it (docs/scale.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_ml.core.errors import UserError
from gitops_ml.infra import figures
from gitops_ml.infra.files import read_json


def read_plots(plots_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The plot data `evaluate` wrote for each figure, by plot name."""
    plots = {name: read_json(plots_dir / f"{name}.json", "evaluate") for name in figures.NAMES}
    for name, points in plots.items():
        if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
            raise UserError(f"{plots_dir / name}.json: expected a list of points (objects)")
    return plots


def run(eval_dir: Path) -> list[Path]:
    """Draw `eval_dir/figures/<name>.png` from `eval_dir/plots/<name>.json`; the PNGs' paths."""
    plots = read_plots(eval_dir / "plots")
    try:
        return figures.render_all(plots, eval_dir / "figures")
    except (KeyError, TypeError, ValueError) as exc:  # points without the fields evaluate writes
        raise UserError(
            f"{eval_dir / 'plots'}: plot data is not as `gitops-ml evaluate` writes it "
            f"({type(exc).__name__}: {exc})"
        ) from None
