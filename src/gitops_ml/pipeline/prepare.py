"""The prepare stage: read the raw table, validate and clean it, split it, write the splits."""

from __future__ import annotations

from pathlib import Path

from gitops_ml.core.dataset import prepare
from gitops_ml.core.params import DataParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra.files import write_atomic, write_text
from gitops_ml.infra.tables import read_table


def run(raw: Path, out_dir: Path, params: DataParams, seed: int) -> FeatureSchema:
    """Read `raw`, prepare it, and write train/test Parquet and schema.json to `out_dir`."""
    table = read_table(raw, text_as_category=True, text=[params.target])
    train, test, schema = prepare(table, params, seed)
    write_atomic(out_dir / "train.parquet", lambda p: train.to_parquet(p, index=False))
    write_atomic(out_dir / "test.parquet", lambda p: test.to_parquet(p, index=False))
    write_text(out_dir / "schema.json", schema.to_json())
    return schema
