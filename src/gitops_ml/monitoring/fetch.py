"""Getting a batch of current data to monitor: a path in the project, an http(s) URL or an
object-store URI (s3://, gs://, ... through fsspec, when that store's driver is installed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec  # type: ignore[import-untyped]  # a dependency of DVC; used here only

from gitops_ml.core.errors import DataError
from gitops_ml.core.formats import require_table
from gitops_ml.infra.files import write_atomic


def is_remote(source: str) -> bool:
    """Whether `source` is a URL or an object-store URI rather than a local path."""
    return "://" in source


def fetch(source: str, dest_dir: Path) -> Path:
    """The batch as a local file: a local path as it is, anything else copied into `dest_dir`.

    A copy is named `current.csv` or `current.parquet` after the source's format.
    """
    kind = require_table(source, "--source")
    if not is_remote(source):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        return path

    dest = dest_dir / f"current.{kind}"

    def copy(tmp: Path) -> None:
        with fsspec.open(source, "rb") as src, tmp.open("wb") as out:
            shutil.copyfileobj(src, out)

    try:
        write_atomic(dest, copy)
    except Exception as exc:  # the storage library's own errors too (driver, network, access)
        raise DataError(f"{source}: cannot be fetched: {type(exc).__name__}: {exc}") from None
    return dest
