"""Cleaning raw values, the one way every step does: text stripped, blanks missing, inputs kept."""

from __future__ import annotations

import pandas as pd

from gitops_ml.core.table import clean


def test_clean_strips_and_blanks_without_mutating() -> None:
    """It strips text, turns blank strings into missing values, and leaves its input alone."""
    frame = pd.DataFrame({"a": [" x ", "", "  ", None], "b": [1, 2, 3, 4]})
    before = frame.copy()
    out = clean(frame)
    assert out["a"].tolist()[:1] == ["x"]
    assert out["a"].isna().tolist() == [False, True, True, True]
    assert out["b"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(frame, before)


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
