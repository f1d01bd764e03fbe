"""Mermaid `xychart-beta` charts of base and branch curves, so a PR comment needs no image host.

An xychart line spreads its values evenly along a numeric x-axis, so every curve is first
resampled onto one shared grid; base and branch then overlay point for point.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import Any

Points = Sequence[Mapping[str, Any]]
# Colours of the lines in order: base, branch, then the reference diagonal.
PALETTE = ("#1f77b4", "#ff7f0e", "#9e9e9e")
GRID_STEPS = 20


def grid(steps: int = GRID_STEPS) -> list[float]:
    """Evenly spaced x values from 0 to 1 inclusive."""
    return [round(i / steps, 4) for i in range(steps + 1)]


def roc_on_grid(points: Points, xs: Sequence[float]) -> list[float]:
    """Best true positive rate reachable at each false positive rate of `xs` (a step curve)."""
    pairs = sorted((float(p["fpr"]), float(p["tpr"])) for p in points)
    fprs = [f for f, _ in pairs]
    best: list[float] = []
    running = 0.0
    for _, tpr in pairs:
        running = max(running, tpr)
        best.append(running)
    out = []
    for x in xs:
        i = bisect.bisect_right(fprs, x + 1e-12)
        out.append(best[i - 1] if i else 0.0)
    return out


def pr_on_grid(points: Points, xs: Sequence[float]) -> list[float]:
    """Interpolated precision (the best precision at recall ≥ x) at each recall of `xs`."""
    pairs = sorted((float(p["recall"]), float(p["precision"])) for p in points)
    recalls = [r for r, _ in pairs]
    best_after = [0.0] * len(pairs)
    running = 0.0
    for i in range(len(pairs) - 1, -1, -1):
        running = max(running, pairs[i][1])
        best_after[i] = running
    out = []
    for x in xs:
        i = bisect.bisect_left(recalls, x - 1e-12)
        out.append(best_after[i] if i < len(pairs) else 0.0)
    return out


def calibration_on_grid(points: Points, xs: Sequence[float]) -> list[float]:
    """Observed rate linearly interpolated between bins (held flat beyond the outer bins)."""
    pairs = sorted((float(p["predicted"]), float(p["observed"])) for p in points)
    if not pairs:
        return [0.0 for _ in xs]
    out = []
    for x in xs:
        i = bisect.bisect_left([p for p, _ in pairs], x)
        if i == 0:
            out.append(pairs[0][1])
        elif i == len(pairs):
            out.append(pairs[-1][1])
        else:
            (x0, y0), (x1, y1) = pairs[i - 1], pairs[i]
            out.append(y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1)
    return out


def xychart(
    title: str,
    x_label: str,
    y_label: str,
    lines: Sequence[Sequence[float]],
    colours: Sequence[str] = PALETTE,
) -> str:
    """One mermaid code block drawing `lines` over x in [0, 1] and y in [0, 1]."""
    init = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(colours[: len(lines)])}}}
    body = [
        "```mermaid",
        f"%%{{init: {json.dumps(init)}}}%%",
        "xychart-beta",
        f'  title "{title}"',
        f'  x-axis "{x_label}" 0 --> 1',
        f'  y-axis "{y_label}" 0 --> 1',
    ]
    body += [f"  line [{', '.join(f'{v:.3f}' for v in line)}]" for line in lines]
    body.append("```")
    return "\n".join(body)


_CURVES = {
    "roc": ("ROC curve", "False positive rate", "True positive rate", roc_on_grid, True),
    "prc": ("Precision-recall curve", "Recall", "Precision", pr_on_grid, False),
    "calibration": (
        "Calibration",
        "Mean predicted probability",
        "Observed positive rate",
        calibration_on_grid,
        True,
    ),
}
CURVES = tuple(_CURVES)


def curve_chart(name: str, base: Points | None, branch: Points) -> str:
    """The mermaid chart of one curve ("roc", "prc" or "calibration"), base first when present."""
    title, x_label, y_label, resample, diagonal = _CURVES[name]
    xs = grid()
    lines = [resample(branch, xs)]
    colours = [PALETTE[1]]
    if base is not None:
        lines.insert(0, resample(base, xs))
        colours.insert(0, PALETTE[0])
    if diagonal:
        lines.append(list(xs))
        colours.append(PALETTE[2])
    return xychart(title, x_label, y_label, lines, colours)
