"""The prepare stage's pure core: schema inference, validation and the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.dataset import held_out, infer_schema, prepare, split, validate
from gitops_ml.core.errors import DataError
from gitops_ml.core.params import DataParams
from gitops_ml.core.table import Table, category_label, clean

SRC = Path("d.csv")


def _params(**overrides: object) -> DataParams:
    base: dict[str, object] = {"raw": "data.csv", "target": "y", "positive_label": "yes"}
    return DataParams.model_validate({**base, **overrides})


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 10, n).round(2).astype(str),
            "plan": rng.choice(["basic", "pro", " pro "], n),
            "y": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        }
    )


def test_infer_schema_kinds_from_values() -> None:
    """It infers numeric columns, including numbers stored as text, and keeps the id out."""
    schema = infer_schema(clean(_frame()), _params(id_column="id"), SRC)
    assert schema.numeric == ("age", "income")
    assert schema.categorical == ("plan",)
    assert (schema.positive_label, schema.negative_label) == ("yes", "no")
    assert schema.id_column == "id"


def test_infer_schema_one_list_means_the_rest_is_the_other_kind() -> None:
    """Listing only categorical features makes every other column numeric, and vice versa."""
    frame = clean(_frame())
    only_cat = infer_schema(
        frame, _params(id_column="id", categorical_features=["age", "plan"]), SRC
    )
    assert (only_cat.numeric, only_cat.categorical) == (("income",), ("age", "plan"))
    only_num = infer_schema(frame, _params(id_column="id", numeric_features=["age"]), SRC)
    assert (only_num.numeric, only_num.categorical) == (("age",), ("income", "plan"))


def test_infer_schema_names_columns_missing_from_the_file() -> None:
    """It names every params column that the file does not have."""
    with pytest.raises(DataError, match=r"\['nope'\].*not in the file"):
        infer_schema(_frame(), _params(numeric_features=["nope"]), SRC)


def test_validate_types_and_encodes_target() -> None:
    """It returns float numerics, categorical text, and a 0/1 target; blanks stay missing."""
    frame = clean(_frame())
    schema = infer_schema(frame, _params(id_column="id"), SRC)
    typed = validate(Table(frame, Path("d.csv")), schema, max_missing=0.5)
    assert typed["income"].dtype == "float64"
    assert isinstance(typed["plan"].dtype, pd.CategoricalDtype)
    assert set(typed["plan"].cat.categories) == {"basic", "pro"}
    assert typed["y"].tolist() == [1 if i % 4 == 0 else 0 for i in range(40)]
    assert typed.columns.tolist() == ["id", "age", "income", "plan", "y"]


def test_validate_names_line_of_text_in_numeric_column() -> None:
    """A word in a numeric column is reported with its CSV line and value."""
    frame = _frame()
    frame.loc[7, "income"] = "lots"
    frame = clean(frame)
    schema = infer_schema(frame, _params(), SRC)
    with pytest.raises(DataError) as err:
        validate(Table(frame, Path("d.csv")), schema, max_missing=0.5)
    assert "column 'income' at line 9: expected numbers, got 'lots'" in str(err.value)


def test_validate_parquet_rows_are_one_based() -> None:
    """Parquet positions are reported as 1-based rows."""
    frame = _frame()
    frame.loc[0, "y"] = "maybe"
    schema = infer_schema(frame.drop(index=0), _params(), SRC)
    with pytest.raises(DataError, match=r"column 'y' at row 1: expected only \['yes', 'no'\]"):
        validate(Table(clean(frame), Path("d.parquet")), schema, max_missing=0.5)


def test_validate_bounds_missingness() -> None:
    """A feature missing more often than data.max_missing allows is rejected by name."""
    frame = _frame()
    frame.loc[:30, "plan"] = None
    frame = clean(frame)
    schema = infer_schema(frame, _params(), SRC)
    with pytest.raises(DataError, match=r"column 'plan'.*more than 50% of values missing"):
        validate(Table(frame, Path("d.csv")), schema, max_missing=0.5)
    assert len(validate(Table(frame, Path("d.csv")), schema, max_missing=0.9)) == 40


def test_split_is_stratified_and_deterministic() -> None:
    """The same seed gives the same rows, and both splits keep the class balance."""
    frame = pd.DataFrame({"x": range(200), "y": [1 if i % 4 == 0 else 0 for i in range(200)]})
    train_a, test_a = split(frame, "y", 0.2, seed=3)
    train_b, test_b = split(frame, "y", 0.2, seed=3)
    _, test_c = split(frame, "y", 0.2, seed=4)
    pd.testing.assert_frame_equal(test_a, test_b)
    pd.testing.assert_frame_equal(train_a, train_b)
    assert not test_a["x"].equals(test_c["x"])
    assert len(test_a) == 40
    assert test_a["y"].mean() == pytest.approx(0.25)
    assert train_a["y"].mean() == pytest.approx(0.25)


@pytest.mark.example_data
def test_prepare_records_train_statistics(raw_frame: pd.DataFrame) -> None:
    """On the default data it keeps every row and records categories and ranges of train."""
    params = DataParams(raw="data/raw/telco_churn.csv", target="churn", positive_label="Yes")
    train, test, schema = prepare(Table(raw_frame, Path(params.raw)), params, seed=0)
    assert len(train) + len(test) == len(raw_frame) == 7043
    assert schema.categories["contract"] == ["Month-to-month", "One year", "Two year"]
    low, high = schema.ranges["tenure"]
    assert low >= 0
    assert high <= 72
    assert train["total_charges"].isna().sum() + test["total_charges"].isna().sum() == 11


def _every_missing_kind(n: int = 120) -> pd.DataFrame:
    """Numbers, text and flags, each missing in every way a file or a frame can say so."""
    rng = np.random.default_rng(1)
    missing = [None, np.nan, pd.NA, ""]
    amount = rng.normal(100, 20, n).round(1).astype(object)
    plan = rng.choice(["basic", "pro", "max"], n).astype(object)
    flag = rng.choice([True, False], n).astype(object)
    for i in range(0, n, 7):
        amount[i] = missing[i % 3]  # text blanks in a numeric column come from CSVs: below
        plan[i] = missing[i % 4]
        flag[i + 3 if i + 3 < n else i] = missing[(i + 1) % 4]
    return pd.DataFrame(
        {
            "amount": amount,
            "plan": plan,
            "flag": flag,
            "y": ["bad" if i % 3 == 0 else "good" for i in range(n)],
        }
    )


def test_every_missing_kind_reaches_the_model_as_missing() -> None:
    """None, NaN, NA and blanks in numbers, text and flags: prepared, fitted and scored."""
    from gitops_ml.core.model import build_pipeline, features, positive_proba
    from gitops_ml.core.params import LogisticRegressionParams, TrainParams

    frame = _every_missing_kind()
    train, test, schema = prepare(Table(frame, SRC), _params(positive_label="bad"), seed=0)
    assert (schema.numeric, schema.categorical) == (("amount",), ("plan", "flag"))
    assert schema.categories == {"plan": ["basic", "max", "pro"], "flag": ["False", "True"]}
    both = pd.concat([train, test])
    assert both["plan"].isna().sum() == (frame["plan"].map(category_label).isna()).sum()
    for col in schema.categorical:
        values = np.asarray(both[col], dtype=object)
        assert not any(v is pd.NA for v in values)  # what trips scikit-learn's imputers
    settings = TrainParams(model=LogisticRegressionParams(type="logistic_regression"))
    model = build_pipeline(schema, settings, 0).fit(features(train, schema), train["y"])
    proba = positive_proba(model, features(test, schema))
    assert np.isfinite(proba).all()
    assert len(proba) == len(test)


def test_a_boolean_column_with_blanks_is_categorical() -> None:
    """True/False with blanks is a category, not the numbers 1 and 0."""
    frame = clean(_every_missing_kind())
    schema = infer_schema(frame, _params(positive_label="bad"), SRC)
    assert "flag" in schema.categorical


def test_labels_keep_the_files_spelling_and_params_name_them_either_way() -> None:
    """A YAML true finds the file's `true`; the schema records the file's spelling."""
    frame = _frame().assign(y=["true" if i % 4 == 0 else "false" for i in range(40)])
    for given in (True, "true"):
        _, test, schema = prepare(Table(frame, SRC), _params(positive_label=given), seed=0)
        assert (schema.positive_label, schema.negative_label) == ("true", "false")
        assert test["y"].sum() == (test["y"] == 1).sum() > 0
    with pytest.raises(DataError, match=r"positive label 'yes' does not occur.*'false', 'true'"):
        prepare(Table(frame, SRC), _params(positive_label="yes"), seed=0)


def test_held_out_rows_are_the_test_split_as_the_file_holds_them() -> None:
    """The held-out rows are the raw rows of prepare's test split, in file order."""
    frame = _frame(200)
    params = _params(id_column="id")
    _, test, _ = prepare(Table(frame, SRC), params, seed=5)
    held = held_out(Table(frame, SRC), params, seed=5)
    assert sorted(held["id"]) == sorted(test["id"])
    assert held["id"].tolist() == [i for i in frame["id"] if i in set(test["id"])]
    assert held["y"].isin(["yes", "no"]).all()  # raw labels, not 0/1
    assert held.columns.tolist() == frame.columns.tolist()
