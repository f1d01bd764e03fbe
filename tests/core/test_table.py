"""Cleaning raw values, the one way every step does: text stripped, blanks missing, inputs kept,
and a category read the same whichever way it is written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_ml.core.table import as_category, category_label, clean


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


def test_clean_keeps_booleans_among_blanks() -> None:
    """A column of booleans and blanks (a CSV's optional flag) keeps its booleans."""
    frame = pd.DataFrame({"flag": pd.Series([True, " ", False, None, "  yes "], dtype=object)})
    out = clean(frame)
    assert out["flag"].tolist()[:1] == [True]
    assert out["flag"].tolist()[2] is False
    assert out["flag"].tolist()[4] == "yes"
    assert out["flag"].isna().tolist() == [False, True, False, True, False]


def test_clean_blanks_text_with_pandas_na() -> None:
    """Nullable text (missing as pandas' NA) is stripped and its blanks become missing."""
    frame = pd.DataFrame({"a": pd.array([" x", "", pd.NA, "y "], dtype="string")})
    out = clean(frame)
    assert out["a"].isna().tolist() == [False, True, True, False]
    assert out["a"].dropna().tolist() == ["x", "y"]


MISSING = [None, np.nan, pd.NA, pd.NaT, "", "   ", float("nan")]


@pytest.mark.parametrize("value", MISSING)
def test_every_kind_of_missing_has_no_label(value: object) -> None:
    """None, NaN, pandas' NA, NaT and blank text are all a missing category."""
    assert category_label(value) is None


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (True, "True"),
        (np.bool_(False), "False"),
        ("true", "True"),
        ("FALSE", "False"),
        (3, "3"),
        (np.int64(3), "3"),
        (3.0, "3"),
        ("3.0", "3"),
        (" 3 ", "3"),
        (2.5, "2.5"),
        ("-1.5e1", "-15"),
        ("007", "7"),
        ("1_000", "1_000"),
        ("inf", "inf"),
        (" Month-to-month ", "Month-to-month"),
        ("Île-de-France", "Île-de-France"),
        (2**60, str(2**60)),
        (float(2**60), repr(float(2**60))),
    ],
)
def test_a_category_reads_the_same_whatever_its_type(value: object, label: str) -> None:
    """A file's boolean or number and a request's text name one category."""
    assert category_label(value) == label


def test_as_category_gives_sorted_text_and_nan_for_every_missing_kind() -> None:
    """Mixed values become sorted text categories; every missing kind reads NaN, never NA."""
    series = pd.Series([True, "true", None, pd.NA, "", 1.0, "1", np.nan, False], dtype=object)
    out = as_category(series)
    assert list(out.cat.categories) == ["1", "False", "True"]
    assert out.tolist()[:2] == ["True", "True"]
    values = np.asarray(out, dtype=object)
    missing = [2, 3, 4, 7]
    assert all(isinstance(values[i], float) and np.isnan(values[i]) for i in missing)
    assert values[5] == values[6] == "1"


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["b", None, "a", "b"], dtype="str"),
        pd.Series(["b", pd.NA, "a", "b"], dtype="string"),
        pd.Series(["b", None, "a", "b"]).astype("category"),
        pd.Series([True, pd.NA, False, True], dtype="boolean"),
        pd.Series([2, pd.NA, 1, 2], dtype="Int64"),
    ],
)
def test_as_category_takes_every_dtype_a_file_gives(series: pd.Series) -> None:
    """Text, nullable text, categories, nullable booleans and integers: missing is NaN."""
    out = as_category(series)
    assert isinstance(out.dtype, pd.CategoricalDtype)
    assert out.isna().tolist() == [False, True, False, False]
    assert out.iloc[0] == out.iloc[3] != out.iloc[2]
    assert np.isnan(np.asarray(out, dtype=object)[1])


_VALUES = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.sampled_from(MISSING),
)


@given(st.lists(_VALUES, min_size=1, max_size=30))
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
def test_as_category_labels_each_value_as_category_label_does(values: list[object]) -> None:
    """Whatever a column mixes, each row's category is its value's label, missing as NaN."""
    out = as_category(pd.Series(values, dtype=object))
    for value, got in zip(values, out.tolist(), strict=True):
        label = category_label(value)
        if label is None:
            assert isinstance(got, float)
            assert np.isnan(got)
        else:
            assert got == label
    assert list(out.cat.categories) == sorted(out.cat.categories)
