"""The table formats the project reads and writes, told apart by the file's suffix.

Light on purpose (no pandas): params validation checks `data.raw` with it at every command.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal

from gitops_ml.core.errors import UserError

TableKind = Literal["csv", "parquet"]
SUFFIXES: dict[str, TableKind] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
EXPECTED = "a path ending in .csv or .parquet"


def table_kind(name: str | PurePath) -> TableKind | None:
    """'csv' or 'parquet' by the suffix of a path or URL (a query string is ignored), else None."""
    text = str(name).split("?", 1)[0]
    return SUFFIXES.get(PurePath(text).suffix.lower())


def require_table(name: str | PurePath, what: str) -> TableKind:
    """The kind of a table path; UserError saying `what` (an option or a file) expects one."""
    kind = table_kind(name)
    if kind is None:
        raise UserError(f"{what} {name}: expected {EXPECTED}")
    return kind
