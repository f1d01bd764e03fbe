"""Held-out predictions: which categorical columns init proposes to judge apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gitops_ml.core import predictions


def _split(rows: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], rows)
    y = (rng.random(rows) < np.where(region == "north", 0.6, 0.2)).astype("int8")
    split = pd.DataFrame(
        {
            "region": region,  # two judged slices, positive rates 0.6 and 0.2
            "plan": rng.choice(["a", "b"], rows),  # two judged slices, rates alike
            "city": [f"c{i % 40}" for i in range(rows)],  # too many values to judge
            "vip": np.where(np.arange(rows) < 30, "yes", "no"),  # one slice too small
            "flag": pd.array([None] * (rows // 2) + ["x"] * (rows - rows // 2), "string"),
        }
    )
    return split, y


def test_slice_candidates_rank_by_coverage_then_by_how_much_the_rates_differ() -> None:
    """Columns with two or more judged slices, the one separating outcomes first; too many
    values or a single judged slice leave a column out; missing values are a slice."""
    split, y = _split()
    found = predictions.slice_candidates(split, y, ["plan", "city", "vip", "region", "flag"])
    assert found[0] == "region"
    assert set(found) == {"region", "plan", "flag"}


def test_slice_candidates_propose_at_most_a_few() -> None:
    """No more than PROPOSED_SLICES columns, however many qualify: each is more comparisons."""
    split, y = _split()
    for name in ("p1", "p2", "p3"):
        split[name] = split["plan"]
    found = predictions.slice_candidates(split, y, ["p3", "p2", "p1", "plan", "region"])
    assert len(found) == predictions.PROPOSED_SLICES == 3
    assert found[0] == "region"
