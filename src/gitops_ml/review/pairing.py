"""Pairing the two sides' held-out predictions: the rows both held out, scored by both models.

When both revisions scored the same rows, the difference between their metrics is measured with
a paired bootstrap (the same resamples on both sides), whose noise band is far narrower than
one that treats the two sides as independent. Rows only one side held out (the split or the
data changed) are counted and left out; with too few rows in common the report falls back to
the unpaired band, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gitops_ml.core import predictions
from gitops_ml.core.metrics import Paired, paired_scores

# Fewer rows in common, or fewer of either class, and a paired comparison means too little.
# A new seed keeps about test_size² of the rows in both test sets (280 of the default data's
# 7,043 at 0.2): enough to pair, with the band the bootstrap measures on them.
MIN_ROWS = 200
MIN_PER_CLASS = 20


@dataclass(frozen=True)
class Pairing:
    """How the two sides were compared, and on which rows."""

    method: str  # "paired" or "unpaired"
    reason: str  # why unpaired ('' when paired)
    rows: int = 0  # rows both sides held out with the same label
    base_rows: int = 0
    branch_rows: int = 0
    only_base: int = 0  # held out by the base only (the split or the data changed)
    only_branch: int = 0
    label_changed: int = 0  # held out by both, with a different label
    resamples: int = 0


@dataclass(frozen=True)
class SlicePair:
    """One slice of the common rows, compared paired."""

    name: str
    rows: int
    paired: Paired


@dataclass(frozen=True)
class Pairs:
    """The comparison of both sides' predictions: overall and per slice (when paired)."""

    pairing: Pairing
    overall: Paired | None = None
    slices: list[SlicePair] = field(default_factory=list)


def _unpaired(reason: str, **counts: int) -> Pairs:
    return Pairs(Pairing("unpaired", reason, **counts))


def pair(
    base: pd.DataFrame | None,
    branch: pd.DataFrame | None,
    *,
    base_threshold: float,
    branch_threshold: float,
    resamples: int,
    seed: int,
) -> Pairs:
    """Score both models on the rows both held out (by key), overall and per slice of the branch."""
    if branch is None:
        return _unpaired("this branch has no eval/predictions.csv")
    if base is None:
        return _unpaired("the base has no eval/predictions.csv", branch_rows=len(branch))
    key, label, score = predictions.KEY, predictions.LABEL, predictions.SCORE
    joined = branch.merge(
        base[[key, label, score]], on=key, how="inner", suffixes=("", "_base"), validate="1:1"
    )
    same_label = joined[label].to_numpy() == joined[f"{label}_base"].to_numpy()
    common = joined[same_label].reset_index(drop=True)
    counts = {
        "base_rows": len(base),
        "branch_rows": len(branch),
        "only_base": len(base) - len(joined),
        "only_branch": len(branch) - len(joined),
        "label_changed": int((~same_label).sum()),
    }
    y = common[label].to_numpy(dtype=np.int8)
    positives = int(y.sum())
    if len(common) < MIN_ROWS or min(positives, len(y) - positives) < MIN_PER_CLASS:
        return _unpaired(
            f"only {len(common)} test rows held out by both sides ({positives} positive); "
            f"a paired comparison needs {MIN_ROWS}, with {MIN_PER_CLASS} of each class",
            rows=len(common),
            **counts,
        )
    new, old = common[score].to_numpy(), common[f"{score}_base"].to_numpy()

    def compared(rows: np.ndarray) -> Paired:
        return paired_scores(
            y[rows], new[rows], old[rows], branch_threshold, resamples, seed, base_threshold
        )

    everything = np.ones(len(common), dtype=bool)
    slices = [
        SlicePair(found.name, int(found.rows.sum()), compared(found.rows))
        for found in predictions.slices(common, y)
    ]
    pairing = Pairing("paired", "", rows=len(common), resamples=resamples, **counts)
    return Pairs(pairing, compared(everything), slices)
