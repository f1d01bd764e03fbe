"""The generated datasets hold what the end-to-end suite claims to test, the same each time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ..support import datasets
from ..support.datasets import SPECS


def test_the_same_seed_gives_the_same_table_and_another_seed_fresh_rows() -> None:
    """Seeded: identical frames for one seed; another seed draws other rows, same columns."""
    spec = datasets.by_name("credit")
    pd.testing.assert_frame_equal(datasets.rows(spec, 300), datasets.rows(spec, 300))
    other = datasets.rows(spec, 300, seed=spec.seed + 1)
    assert list(other.columns) == list(datasets.rows(spec, 300).columns)
    assert not set(other["applicant ref"]) & set(datasets.rows(spec, 300)["applicant ref"])


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_dataset_has_its_labels_rate_and_missing_values(spec: datasets.Spec) -> None:
    """Two labels as the spec writes them, near the asked positive rate, missing values present."""
    frame = datasets.rows(spec)
    assert len(frame) == spec.rows
    labels = set(frame[spec.target].map(str))
    assert labels == {spec.positive_text, spec.negative_text}
    rate = (frame[spec.target].map(str) == spec.positive_text).mean()
    assert rate == pytest.approx(spec.positive_rate, abs=0.03)
    for col in spec.columns:
        if col.missing:
            blank = frame[col.name].map(lambda v: isinstance(v, str) and not v.strip())
            assert (frame[col.name].isna() | blank).mean() == pytest.approx(col.missing, abs=0.03)


def _markers(values: pd.Series) -> set[str]:
    found = set()
    for value in values:
        if value is None:
            found.add("None")
        elif value is pd.NA:
            found.add("NA")
        elif isinstance(value, float) and np.isnan(value):
            found.add("NaN")
        elif isinstance(value, str) and not value.strip():
            found.add("blank")
    return found


def test_together_the_datasets_cover_what_the_suite_promises() -> None:
    """Every missing marker, kind of column, label style, rare positives, awkward names."""
    markers: set[str] = set()
    kinds: set[str] = set()
    for spec in SPECS:
        frame = datasets.rows(spec)
        for col in spec.columns:
            kinds.add(col.kind)
            if col.kind in ("categorical", "boolean"):
                markers |= _markers(frame[col.name].astype(object))
    assert markers == {"None", "NA", "NaN", "blank"}
    assert kinds >= {
        "categorical", "boolean", "int_coded", "numeric_text", "high_cardinality", "constant",
        "id_like",
    }  # fmt: skip
    labels = {(s.positive_text, s.negative_text) for s in SPECS}
    assert {("1", "0"), ("true", "false"), ("bad", "good")} <= labels
    assert min(s.positive_rate for s in SPECS) <= 0.02
    names = [c.name for s in SPECS for c in s.columns]
    assert any(" " in n for n in names)
    assert any(not n.isascii() for n in names)
    assert {s.fmt for s in SPECS} == {"csv", "parquet"}
