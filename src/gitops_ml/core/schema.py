"""What the prepared data looks like: feature names, kinds, categories and ranges.

Written by `prepare` beside the splits and read by every later step (training, serving,
monitoring), so that none of them re-infers what the data is.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from gitops_ml.core.errors import DataError

# The column of the prepared splits that names each row, the same on every revision that reads
# the same data: the pull-request report pairs the rows two revisions both held out by it.
ROW_KEY = "_row_key"


@dataclass(frozen=True)
class FeatureSchema:
    """The columns a model takes and the target it predicts."""

    target: str
    positive_label: str
    negative_label: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id_column: str | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """All feature columns, numeric first, in the order the model sees them."""
        return [*self.numeric, *self.categorical]

    def to_json(self) -> str:
        """Serialise to stable JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        """Inverse of `to_json`."""
        raw = json.loads(text)
        return cls(
            target=raw["target"],
            positive_label=raw["positive_label"],
            negative_label=raw["negative_label"],
            numeric=tuple(raw["numeric"]),
            categorical=tuple(raw["categorical"]),
            id_column=raw.get("id_column"),
            categories={k: list(v) for k, v in raw.get("categories", {}).items()},
            ranges={k: (float(v[0]), float(v[1])) for k, v in raw.get("ranges", {}).items()},
        )

    @classmethod
    def read(cls, path: Path) -> FeatureSchema:
        """Load a schema written by `prepare`; DataError naming the file when it cannot be."""
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: not found; `gitops-ml prepare` writes it") from None
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"{path}: not a schema written by `gitops-ml prepare` ({type(exc).__name__}: {exc})"
            ) from None


def with_statistics(schema: FeatureSchema, train: pd.DataFrame) -> FeatureSchema:
    """Record the categories and numeric ranges seen in the training split."""
    categories = {
        col: sorted(str(v) for v in train[col].dropna().unique()) for col in schema.categorical
    }
    ranges = {
        col: (float(train[col].min()), float(train[col].max()))
        for col in schema.numeric
        if train[col].notna().any()
    }
    return replace(schema, categories=categories, ranges=ranges)
