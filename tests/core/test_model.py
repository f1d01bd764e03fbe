"""The model spec: positive-class probabilities the same whether scored at once or in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core import model as model_spec


def test_chunked_scoring_equals_scoring_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """positive_proba gives the same probabilities whatever the chunk size."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(5)
    x = pd.DataFrame({"a": rng.normal(size=103), "b": rng.normal(size=103)})
    y = (x["a"] + rng.normal(size=103) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=10).fit(x, y)
    whole = model_spec.positive_proba(model, x)
    monkeypatch.setattr(model_spec, "PREDICT_CHUNK_ROWS", 10)
    chunked = model_spec.positive_proba(model, x)
    np.testing.assert_array_equal(whole, chunked)
    assert len(chunked) == 103
