"""What init learns from a dataset: its guesses, and the data checked as prepare checks it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gitops_ml.core.errors import DataError
from gitops_ml.core.params import DataParams
from gitops_ml.core.table import Table
from gitops_ml.template import dataset_checks

from .sample import accounts as _frame


def test_guesses_name_the_target_the_rarer_label_and_the_id() -> None:
    """A column named like a target wins over other two-valued ones; ids are unique text."""
    frame = _frame()
    assert dataset_checks.binary_columns(frame) == ["has_phone", "tier", "status"]
    assert dataset_checks.guess_target(frame) == "status"
    assert dataset_checks.guess_target(frame.rename(columns={"status": "s"})) == "s"
    assert dataset_checks.guess_positive({"stayed": 150, "churned": 50}) == "churned"
    assert dataset_checks.guess_positive({"No": 5, "Yes": 20}) == "Yes"
    assert dataset_checks.guess_id_column(frame, "status") == "account_id"
    assert dataset_checks.guess_id_column(frame.drop(columns="account_id"), "status") is None
    assert dataset_checks.model_name_for("Acme Churn 2.0") == "acme-churn-2-0-model"


def test_summary_is_what_prepare_infers(tmp_path: Path) -> None:
    """Feature kinds, id and class balance come from the prepare stage's own inference."""
    table = Table(_frame(), tmp_path / "accounts.parquet")
    params = DataParams(
        raw="data/raw/accounts.parquet",
        target="status",
        positive_label="churned",
        id_column="account_id",
    )
    summary = dataset_checks.summarize(table, params, seed=1)
    assert summary.schema.numeric == ("score",)
    assert summary.schema.categorical == ("has_phone", "tier")
    assert summary.schema.id_column == "account_id"
    assert list(summary.counts) == ["churned", "stayed"]
    assert sum(summary.counts.values()) == 200
    assert summary.positive_rate == summary.counts["churned"] / 200


def test_a_wrong_target_names_the_file_the_column_and_what_is_there(tmp_path: Path) -> None:
    """A missing column, a column of three values, and an absent label: one clear error each."""
    table = Table(_frame(), tmp_path / "accounts.parquet")
    with pytest.raises(DataError) as missing:
        dataset_checks.check_target(table, "outcome")
    assert str(missing.value).startswith(f"{tmp_path / 'accounts.parquet'}: no column 'outcome'")
    assert "'score'" in str(missing.value)
    assert "two-valued columns: ['has_phone', 'tier', 'status']" in str(missing.value)
    three = Table(_frame().assign(status=["a", "b", "c", "a"] * 50), table.path)
    with pytest.raises(DataError, match=r"column 'status' holds 3 distinct values \['a', "):
        dataset_checks.check_target(three, "status")
    counts = dataset_checks.check_target(table, "status")
    with pytest.raises(DataError) as label:
        dataset_checks.check_positive(table, "status", counts, "Yes")
    assert "column 'status': positive label 'Yes' does not occur" in str(label.value)
    assert "'churned'" in str(label.value)
    assert "'stayed'" in str(label.value)


def test_a_positive_label_is_found_as_the_file_spells_it(tmp_path: Path) -> None:
    """`true` names a Parquet boolean's `True`; the label is returned as the file holds it."""
    table = Table(_frame().assign(status=[True, False] * 100), tmp_path / "a.parquet")
    counts = dataset_checks.check_target(table, "status")
    assert counts == {"True": 100, "False": 100}
    assert dataset_checks.check_positive(table, "status", counts, "true") == "True"
    assert dataset_checks.check_positive(table, "status", counts, "True") == "True"


def test_dates_and_free_text_are_proposed_for_leaving_out() -> None:
    """Dates (typed or as text) and free text are named with why; ids, codes, years are not."""
    frame = _frame()
    rows = len(frame)
    frame["signed"] = pd.date_range("2024-01-01", periods=rows, freq="D")
    frame["last contact"] = pd.date_range("2023-06-01", periods=rows, freq="h").astype(str)
    frame["note"] = [f"called on day {i} about the invoice" for i in range(rows)]
    frame["year"] = [str(1990 + i % 30) for i in range(rows)]
    frame["code"] = [f"Z{i % 40:03d}" for i in range(rows)]
    assert dataset_checks.unusable_columns(frame, "status", "account_id") == {
        "signed": "dates and times",
        "last contact": "dates and times",
        "note": "free text",
    }
    assert dataset_checks.unusable_columns(_frame(), "status", "account_id") == {}
    # An identifier not named as the id column is one more column prepare would refuse.
    assert dataset_checks.unusable_columns(_frame(), "status", None) == {"account_id": "free text"}


def test_what_init_proposes_to_leave_out_is_what_prepare_needs(tmp_path: Path) -> None:
    """prepare refuses the free-text column; with the proposal in data.drop_columns it accepts
    the data, and the summary says what was left out."""
    frame = _frame().assign(note=[f"free words number {i} here" for i in range(200)])
    table = Table(frame, tmp_path / "a.parquet")
    params = DataParams(
        raw="a.parquet", target="status", positive_label="churned", id_column="account_id"
    )
    with pytest.raises(DataError, match=r"\['note'\] look like free text"):
        dataset_checks.summarize(table, params, seed=1)
    proposed = dataset_checks.unusable_columns(frame, "status", "account_id")
    assert proposed == {"note": "free text"}
    dropped = params.model_copy(update={"drop_columns": list(proposed)})
    summary = dataset_checks.summarize(table, dropped, seed=1)
    assert summary.dropped == ["note"]
    assert "note" not in summary.schema.features
