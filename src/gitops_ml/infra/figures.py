"""PNG charts drawn from plot data; each takes one or more named series so reports can overlay."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_ml.infra.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Points = list[dict[str, Any]]
Series = Mapping[str, Points]


def _figure() -> tuple[Figure, Axes]:
    # matplotlib (~25 MB) is loaded by the first drawing, not by importing this module: `track`
    # reads NAMES only.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4), dpi=100, layout="tight")
    return fig, fig.add_subplot()


def save(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG atomically."""
    # No Software/date metadata, so the same data always gives the same bytes.
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))
    return path


def _lines(series: Series, x: str, y: str, title: str, diagonal: bool) -> Figure:
    fig, ax = _figure()
    for name, points in series.items():
        ax.plot([p[x] for p in points], [p[y] for p in points], label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance" if x == "fpr" else None)
    ax.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="best")
    return fig


def roc(series: Series) -> Figure:
    """ROC curves."""
    return _lines(series, "fpr", "tpr", "ROC curve", diagonal=True)


def prc(series: Series) -> Figure:
    """Precision-recall curves."""
    return _lines(series, "recall", "precision", "Precision-recall curve", diagonal=False)


def calibration(series: Series) -> Figure:
    """Reliability diagrams: observed rate against mean predicted probability."""
    fig = _lines(series, "predicted", "observed", "Calibration", diagonal=True)
    for line in fig.axes[0].lines[: len(series)]:
        line.set_marker("o")
    return fig


def confusion(rows: Points) -> Figure:
    """Confusion matrix of one model, counts per actual/predicted label."""
    labels = sorted({r["actual"] for r in rows} | {r["predicted"] for r in rows})
    counts = [[0] * len(labels) for _ in labels]
    for r in rows:
        counts[labels.index(r["actual"])][labels.index(r["predicted"])] += 1
    fig, ax = _figure()
    ax.imshow(counts, cmap="Blues")
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center")
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix",
    )
    return fig


def importance(points: Points) -> Figure:
    """Horizontal bars of permutation importance, largest at the top."""
    fig, ax = _figure()
    ordered = list(reversed(points))
    ax.barh(
        [p["feature"] for p in ordered],
        [p["importance"] for p in ordered],
        xerr=[p["std"] for p in ordered],
    )
    ax.set(xlabel="drop in ROC AUC when shuffled", title="Permutation importance")
    return fig


_SINGLE: dict[str, Callable[[Points], Figure]] = {
    "roc": lambda pts: roc({"model": pts}),
    "prc": lambda pts: prc({"model": pts}),
    "calibration": lambda pts: calibration({"model": pts}),
    "confusion": confusion,
    "importance": importance,
}
# The plots `render_all` draws, each from the plot data of its name.
NAMES = tuple(_SINGLE)


def render_all(plots: Mapping[str, Points], out_dir: Path) -> list[Path]:
    """Draw each known plot to `out_dir/<name>.png`; return the written paths.

    Every figure is drawn before any is written, so plot data that cannot be drawn leaves no
    figure of this run beside those of an earlier one.
    """
    drawn = {name: draw(plots[name]) for name, draw in _SINGLE.items()}
    return [save(fig, out_dir / f"{name}.png") for name, fig in drawn.items()]
