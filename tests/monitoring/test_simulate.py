"""The simulator: a readable drift grammar, resampled batches, controlled shifts, any size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gitops_ml.core.dataset import prepare
from gitops_ml.core.errors import DriftSpecError
from gitops_ml.core.params import Params
from gitops_ml.core.table import clean
from gitops_ml.infra.tables import read_table
from gitops_ml.monitoring import simulate
from gitops_ml.monitoring.simulate import DriftChange, parse_spec

from ..conftest import ROOT

SIMULATE = ["gitops-ml", "simulate"]


@pytest.fixture(scope="module")
def source(raw_frame: pd.DataFrame) -> pd.DataFrame:
    """The raw data as the simulator reads it (cleaned, raw columns)."""
    return clean(raw_frame)


def batch(source: pd.DataFrame, rows: int, seed: int, spec: str = "") -> pd.DataFrame:
    changes = parse_spec(spec)
    simulate.check_spec(changes, source, "raw.csv")
    return pd.concat(list(simulate.simulate(source, rows, seed, changes)), ignore_index=True)


def test_spec_grammar() -> None:
    """It parses every operation, with labels holding spaces and default shares."""
    changes = parse_spec(
        "tenure:shift=12, monthly_charges:scale=1.5,total_charges:missing=0.3,"
        "contract:new=Quarterly,payment_method:freq=Mailed check@0.6,contract:new=Weekly@0.1"
    )
    assert changes == [
        DriftChange("tenure", "shift", 12.0),
        DriftChange("monthly_charges", "scale", 1.5),
        DriftChange("total_charges", "missing", 0.3),
        DriftChange("contract", "new", simulate.NEW_SHARE, "Quarterly"),
        DriftChange("payment_method", "freq", 0.6, "Mailed check"),
        DriftChange("contract", "new", 0.1, "Weekly"),
    ]
    assert parse_spec("") == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tenure", r"'tenure': expected column:operation=value"),
        ("tenure:shfit=3", r"unknown operation 'shfit'; expected one of shift, scale"),
        ("tenure:shift=abc", r"'tenure:shift=abc': expected a number, got 'abc'"),
        ("tenure:shift=nan", r"expected a finite number"),
        ("total_charges:missing=1.5", r"expected a share from 0 to 1, got '1.5'"),
        ("contract:freq=Two year", r"expected <label>@<share>"),
        ("contract:new=@0.2", r"expected a label before '@'"),
        ("tenure:shift=1,,contract:new=X", r"empty item"),
    ],
)
def test_spec_errors(spec: str, message: str) -> None:
    """It rejects a malformed spec naming the item and what was expected."""
    with pytest.raises(DriftSpecError, match=message):
        parse_spec(spec)


@pytest.mark.example_data  # the example's columns
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tenur:shift=1", r"column 'tenur' is not in raw.csv; its columns are \['churn'"),
        ("contract:shift=1", r"shift applies to numeric columns; 'contract' in raw.csv holds text"),
        ("tenure:new=X", r"new applies to text columns; 'tenure' in raw.csv is numeric"),
        ("contract:new=Two year", r"label 'Two year' already occurs in 'contract'"),
        ("contract:freq=Weekly@0.5", r"label 'Weekly' does not occur in 'contract'; its values"),
    ],
)
def test_spec_must_fit_the_data(source: pd.DataFrame, spec: str, message: str) -> None:
    """It rejects a change the data cannot take, naming the column."""
    with pytest.raises(DriftSpecError, match=message):
        simulate.check_spec(parse_spec(spec), source, "raw.csv")


@pytest.mark.example_data  # the example's columns
def test_clean_batch_is_a_resample(source: pd.DataFrame) -> None:
    """Without drift, a batch has the raw columns and types, and only rows of the raw data."""
    out = batch(source, 3000, seed=1)
    assert list(out.columns) == list(source.columns)
    assert len(out) == 3000
    assert out["tenure"].dtype == source["tenure"].dtype
    assert set(out["contract"].dropna()) <= set(source["contract"].dropna())
    # Every simulated row is a row of the source (merge matches missing values to each other).
    text = dict.fromkeys(source.columns, "string")
    found = out.astype(text).merge(
        source.astype(text).drop_duplicates(), how="left", indicator=True
    )
    assert len(found) == len(out)
    assert (found["_merge"] == "both").all()


@pytest.mark.example_data  # the example's columns
def test_same_seed_same_batch(source: pd.DataFrame) -> None:
    """The same seed gives the same batch; another seed another one."""
    spec = "tenure:shift=5,contract:new=Q"
    a, b, c = batch(source, 500, 7, spec), batch(source, 500, 7, spec), batch(source, 500, 8, spec)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


@pytest.mark.example_data  # the example's columns
def test_each_change_does_what_it_says(source: pd.DataFrame) -> None:
    """Shift, scale, missing, new and freq move exactly the statistic they name."""
    freq = "payment_method:freq=Mailed check@0.6"
    # Same seed and the same resampling weights: the same rows before the value changes.
    base = batch(source, 20_000, seed=2, spec=freq)
    out = batch(
        source,
        20_000,
        seed=2,
        spec="tenure:shift=12,monthly_charges:scale=2,total_charges:missing=0.3,"
        f"contract:new=Quarterly@0.25,{freq}",
    )
    assert out["tenure"].dtype == source["tenure"].dtype  # whole shifts keep integers
    assert out["tenure"].mean() == pytest.approx(base["tenure"].mean() + 12, abs=1.0)
    assert out["monthly_charges"].mean() == pytest.approx(
        2 * base["monthly_charges"].mean(), rel=0.05
    )
    extra = out["total_charges"].isna().mean() - base["total_charges"].isna().mean()
    assert extra == pytest.approx(0.3, abs=0.02)
    assert (out["contract"] == "Quarterly").mean() == pytest.approx(0.25, abs=0.02)
    assert (out["payment_method"] == "Mailed check").mean() == pytest.approx(0.6, abs=0.02)
    assert (batch(source, 20_000, seed=2)["payment_method"] == "Mailed check").mean() < 0.3


@pytest.mark.example_data  # the example's columns
def test_chunked_parquet_has_one_schema(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """Written in many chunks, a Parquet batch has one schema, plain strings and every row."""
    out = tmp_path / "batch.parquet"
    spec = "total_charges:missing=0.01,contract:new=Q"
    simulate.run(clean(raw_frame), "raw.csv", out, 2_500, 3, spec, chunk_rows=1000)
    file = pq.ParquetFile(out)
    assert file.metadata.num_rows == 2_500
    assert file.metadata.num_row_groups == 3
    assert str(file.schema_arrow.field("contract").type) == "string"
    assert str(file.schema_arrow.field("total_charges").type) == "double"
    frame = pd.read_parquet(out)
    assert frame["total_charges"].isna().sum() > 0
    assert not list(tmp_path.glob(".batch*"))  # no temporary file left behind


@pytest.mark.example_data  # the example's columns
def test_cli_writes_csv_and_refuses_bad_input(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """The command writes a CSV batch from the held-out rows and reports errors in one line."""
    out = tmp_path / "b.csv"
    done = subprocess.run(
        [
            *SIMULATE,
            "--rows",
            "50",
            "--seed",
            "1",
            "--drift",
            "tenure:shift=1",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=tool_env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "simulated 50 rows from the 1409 held-out rows of data/raw/telco_churn.csv "
        "(tenure:shift=1)" in done.stdout
    )
    assert len(pd.read_csv(out)) == 50
    bad = subprocess.run(
        [
            *SIMULATE,
            "--rows",
            "5",
            "--drift",
            "contract:scale=2",
            "--output",
            str(tmp_path / "c.pq"),
        ],
        cwd=ROOT,
        env=tool_env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "scale applies to numeric columns; 'contract'" in bad.stderr
    assert not (tmp_path / "c.pq").exists()


@pytest.mark.example_data  # the example's columns
def test_weights_reach_the_asked_share(source: pd.DataFrame) -> None:
    """Resampling weights give the label exactly the asked share in expectation."""
    weights = simulate.row_weights(source, parse_spec("contract:freq=Two year@0.5"))
    assert weights is not None
    assert float(np.sum(weights[(source["contract"] == "Two year").to_numpy()])) == pytest.approx(
        0.5
    )


def test_by_default_a_batch_resamples_only_rows_the_model_never_saw(
    tmp_path: Path, params: Params
) -> None:
    """The default source is prepare's test split, raw; --raw resamples the table given."""
    raw = tmp_path / "accounts.csv"
    frame = pd.DataFrame(
        {
            "ref": [f"R{i:04d}" for i in range(300)],
            "score": np.linspace(0, 1, 300),
            "label": ["true" if i % 3 == 0 else "false" for i in range(300)],
        }
    )
    frame.to_csv(raw, index=False)
    data = params.data.model_copy(
        update={"raw": str(raw), "target": "label", "positive_label": True, "id_column": "ref"}
    )
    settings = params.model_copy(update={"data": data})
    source, where = simulate.source_rows(settings)
    _, test, _ = prepare(read_table(raw, text=["label"]), data, settings.seed)
    assert where == f"the {len(test)} held-out rows of {raw}"
    assert sorted(source["ref"]) == sorted(test["ref"])
    assert set(source["label"]) == {"true", "false"}  # labels as the file writes them
    out = tmp_path / "batch.csv"
    simulate.run(source, where, out, 500, 0)
    assert set(pd.read_csv(out, dtype={"label": str})["ref"]) <= set(test["ref"])
    whole, named = simulate.source_rows(settings, raw)
    assert (len(whole), named) == (300, str(raw))


def test_a_batch_no_larger_than_its_source_repeats_no_row() -> None:
    """Up to the source's size every row comes once; beyond it rows must repeat."""
    source = pd.DataFrame({"ref": [f"R{i}" for i in range(500)], "x": np.arange(500.0)})
    whole = pd.concat(list(simulate.simulate(source, 500, 3, [], chunk_rows=120)))
    assert sorted(whole["ref"]) == sorted(source["ref"])
    assert whole["ref"].tolist() != source["ref"].tolist()  # shuffled
    part = batch(source, 200, 4)
    assert part["ref"].is_unique
    more = batch(source, 900, 4)
    assert len(more) == 900
    assert not more["ref"].is_unique
