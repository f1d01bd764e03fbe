"""Reading table files: Parquet text as category changes memory, not what prepare makes of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gitops_ml.core.dataset import prepare
from gitops_ml.core.params import DataParams
from gitops_ml.infra.tables import read_table


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


def test_csv_columns_named_text_keep_the_files_spelling(tmp_path: Path) -> None:
    """A target of true/false stays that text when named; pandas' booleans otherwise."""
    path = tmp_path / "raw.csv"
    path.write_text("x,approved\n1,true\n2,false\n3,TRUE\n", encoding="utf-8")
    assert read_table(path, text=["approved"]).frame["approved"].tolist() == [
        "true",
        "false",
        "TRUE",
    ]
    assert read_table(path).frame["approved"].tolist() == [True, False, True]
    assert read_table(path, text=["absent"]).frame["x"].tolist() == [1, 2, 3]
