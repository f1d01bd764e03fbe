"""Model files: saved byte-reproducibly with skops, loaded only through the trust policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.errors import ModelError
from gitops_ml.core.model import build_pipeline, positive_proba
from gitops_ml.core.params import TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.model_files import load_model, save_model


def _fitted() -> tuple[object, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "c": rng.choice(["a", "b", "c"], 200).astype(object)}
    )
    y = (frame["x"] + (frame["c"] == "a") + rng.normal(size=200) > 0.5).astype(int)
    schema = FeatureSchema("y", "1", "0", ("x",), ("c",))
    settings = TrainParams.model_validate(
        {"model": {"type": "hist_gradient_boosting", "max_iter": 20}}
    )
    return build_pipeline(schema, settings, seed=0).fit(frame, y), frame


def test_model_file_round_trips_byte_identically(tmp_path: Path) -> None:
    """Saving twice gives the same bytes, and the loaded model predicts the same."""
    model, frame = _fitted()
    save_model(model, tmp_path / "a.skops")
    save_model(model, tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    loaded = load_model(tmp_path / "a.skops")
    np.testing.assert_array_equal(positive_proba(loaded, frame), positive_proba(model, frame))


def test_load_refuses_unexpected_types(tmp_path: Path) -> None:
    """A model file holding types outside scikit-learn and numpy is not loaded."""
    import fractions

    import skops.io

    path = tmp_path / "odd.skops"
    skops.io.dump(fractions.Fraction(1, 3), path)
    with pytest.raises(ModelError, match=r"unexpected types \['fractions.Fraction'\]"):
        load_model(path)


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    """A missing model file is a clear error, not a traceback."""
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path / "none.skops")
