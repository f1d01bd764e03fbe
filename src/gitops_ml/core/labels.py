"""The target's labels: compared as text, as the file holds them (`1`, `true`, `bad`).

params.yaml may name the positive label in either form: quoted text (`"1"`, `"true"`, as
`gitops-ml init` writes it) or a YAML number or boolean (`1`, `true`). Both find the label the
file holds; the schema then records the file's own spelling, which the API and batch scoring
answer with.
"""

from __future__ import annotations

import math

import pandas as pd

_BOOLEAN_WORDS = ("true", "false")


def as_text(series: pd.Series) -> pd.Series:
    """The target's values as text (missing stays missing): how every step compares labels."""
    return series.astype("string")


def label_text(value: str | int | bool) -> str:
    """How a label given in params.yaml reads as text (a YAML `true` reads `true`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def same_label(given: str | int | bool, found: str) -> bool:
    """Whether a label from params.yaml names the label `found` in the file.

    The same text; or, for a boolean, the same word whatever its case (a Parquet boolean reads
    `True`); or, for a number, the same number (`1` names `1.0`).
    """
    text = label_text(given)
    if text == found:
        return True
    if text.lower() in _BOOLEAN_WORDS:
        return text.lower() == found.lower()
    wanted, other = _number(text), _number(found)
    return wanted is not None and wanted == other


def find_label(given: str | int | bool, present: list[str]) -> str | None:
    """The one label among `present` that `given` names (the exact text first), else None."""
    text = label_text(given)
    if text in present:
        return text
    matches = [label for label in present if same_label(given, label)]
    return matches[0] if len(matches) == 1 else None
