"""Large-data paths on small data: compact Parquet reads, capped evaluation, chunked scoring."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml import evaluate
from gitops_ml.data import clean, prepare, read_table
from gitops_ml.params import DataParams
from gitops_ml.schema import FeatureSchema


def _raw(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    income = rng.normal(50, 10, n).round(2).astype(str).astype(object)
    income[::37] = " "  # blanks in a numeric column stored as text
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": income,
            "plan": rng.choice(["basic", "pro", " pro ", ""], n),
            "region": rng.choice(["north", "south"], n),
            "y": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )


def test_parquet_text_as_category_prepares_exactly_the_same_data(tmp_path: Path) -> None:
    """Reading text as category changes memory, not results: same splits, dtypes and schema."""
    path = tmp_path / "raw.parquet"
    _raw().to_parquet(path, index=False)
    params = DataParams(raw="raw.parquet", target="y", positive_label="yes")
    compact = read_table(path, text_as_category=True)
    assert isinstance(compact.frame["plan"].dtype, pd.CategoricalDtype)
    fast = prepare(compact, params, seed=3)
    plain = prepare(read_table(path), params, seed=3)
    pd.testing.assert_frame_equal(fast[0], plain[0])
    pd.testing.assert_frame_equal(fast[1], plain[1])
    assert fast[2] == plain[2]
    assert fast[2].numeric == ("age", "income")
    assert fast[2].categories["plan"] == ["basic", "pro"]


def test_clean_strips_category_labels_and_merges_them_without_mutating() -> None:
    """' pro ' and 'pro' become one label; a blank label becomes missing; the input is kept."""
    frame = pd.DataFrame(
        {
            "plan": pd.Categorical([" pro ", "pro", "", "basic", None]),
            "rank": pd.Categorical([1, 2, 2, 1, 3]),
        }
    )
    before = frame.copy()
    out = clean(frame)
    pd.testing.assert_series_equal(out["rank"], frame["rank"])  # numbers are left as they are
    assert out["plan"].tolist()[:2] == ["pro", "pro"]
    assert out["plan"].isna().tolist() == [False, False, True, False, True]
    assert sorted(out["plan"].cat.categories) == ["basic", "pro"]
    pd.testing.assert_frame_equal(frame, before)


def test_subsample_is_seeded_sorted_and_whole_below_the_cap() -> None:
    """Up to the cap every row is kept; above it, a fixed sample of distinct rows in order."""
    assert evaluate.subsample(50, 100, seed=1).tolist() == list(range(50))
    picked = evaluate.subsample(1000, 100, seed=1)
    assert len(set(picked.tolist())) == 100
    assert picked.tolist() == sorted(picked.tolist())
    assert picked.tolist() == evaluate.subsample(1000, 100, seed=1).tolist()
    assert picked.tolist() != evaluate.subsample(1000, 100, seed=2).tolist()


def test_bootstrap_above_the_cap_estimates_the_full_sample_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Errors from a capped subsample, rescaled, match the binomial error of all n rows."""
    monkeypatch.setattr(evaluate, "BOOTSTRAP_MAX_ROWS", 1000)
    rng = np.random.default_rng(1)
    n = 8000
    y = rng.integers(0, 2, n)
    proba = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    se = evaluate.bootstrap_se(y, proba, 0.5, resamples=120, seed=7)
    acc = evaluate.score(y, proba, 0.5)["accuracy"]
    # Without the rescaling the error would be that of 1000 rows: sqrt(8) ≈ 2.8 times larger.
    assert se["accuracy"] == pytest.approx(math.sqrt(acc * (1 - acc) / n), rel=0.25)


def test_confusion_rows_above_the_cap_keep_the_cells_proportions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the cap the plot data holds cap rows, each cell within one row of its share."""
    monkeypatch.setattr(evaluate, "CONFUSION_MAX_ROWS", 100)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 997)
    proba = np.clip(y * 0.25 + rng.random(997) * 0.75, 0, 1)
    schema = FeatureSchema("t", "churned", "stayed", ("x",), ())
    rows = evaluate.confusion_rows(y, proba, 0.5, schema)
    counts = evaluate.confusion_counts(y, proba, 0.5)
    assert len(rows) == 100
    cells = {
        "tp": ("churned", "churned"),
        "fn": ("churned", "stayed"),
        "fp": ("stayed", "churned"),
        "tn": ("stayed", "stayed"),
    }
    for name, (actual, predicted) in cells.items():
        shown = sum(r == {"actual": actual, "predicted": predicted} for r in rows)
        assert abs(shown - counts[name] * 100 / 997) < 1


def test_chunked_scoring_equals_scoring_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """predict_positive gives the same probabilities whatever the chunk size."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(5)
    x = pd.DataFrame({"a": rng.normal(size=103), "b": rng.normal(size=103)})
    y = (x["a"] + rng.normal(size=103) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=10).fit(x, y)
    whole = evaluate.predict_positive(model, x)  # type: ignore[arg-type]
    monkeypatch.setattr(evaluate, "PREDICT_CHUNK_ROWS", 10)
    chunked = evaluate.predict_positive(model, x)  # type: ignore[arg-type]
    np.testing.assert_array_equal(whole, chunked)
    assert len(chunked) == 103
