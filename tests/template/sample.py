"""A small accounts table of the template tests: ids, mixed feature kinds, a churn label."""

from __future__ import annotations

import numpy as np
import pandas as pd


def accounts(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """`rows` accounts; `status` is churned or stayed, from the score and the tier."""
    rng = np.random.default_rng(seed)
    tier = rng.choice(["basic", "plus"], rows)
    score = rng.normal(size=rows)
    churned = (score + (tier == "basic")) > 0.8
    return pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(rows)],
            "has_phone": rng.choice(["Yes", "No"], rows),
            "tier": tier,
            "score": score,
            "status": np.where(churned, "churned", "stayed"),
        }
    )
