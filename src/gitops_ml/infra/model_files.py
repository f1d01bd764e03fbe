"""Model files: saved with skops, byte-reproducibly, and loaded only through a trust policy.

The one home of how a model becomes bytes and bytes become a model again: training saves here,
and every command that loads a model file (evaluate, serve, predict, monitor, promote) loads
it here, through the same check of the types the file holds.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from gitops_ml.core.errors import ModelError
from gitops_ml.infra.files import write_bytes

# skops is imported inside the functions that use it: it enumerates every estimator on import
# (over a second), and this module is loaded by every command through `tracking`.
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
# Types a model file of this pipeline may hold. skops refuses any other type unless trusted,
# which keeps a tampered file from running code or reading out of bounds when loaded.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def save_model(model: Any, path: Path) -> None:
    """Save with skops (no pickle: loading it cannot run arbitrary code), byte-reproducibly."""
    import skops.io

    write_bytes(path, canonical_skops(skops.io.dumps(model)))


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive with deterministic names, so one model always has one hash.

    skops names its arrays and memo entries after `id()` of the objects (memory addresses)
    and stamps zip entries with the current time; both change on every run. Renumbering them
    in order of first appearance, consistently, keeps the archive's meaning and fixes its bytes.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = archive.read("schema.json").decode()
        ids: dict[str, int] = {}
        schema = re.sub(
            r'"__id__": (\d+)',
            lambda m: f'"__id__": {ids.setdefault(m.group(1), len(ids))}',
            schema,
        )
        files: dict[str, str] = {}
        schema = re.sub(
            r'"file": "(\d+)\.npy"',
            lambda m: f'"file": "{files.setdefault(m.group(1), f"{len(files):06d}")}.npy"',
            schema,
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as canonical:
            canonical.writestr(zipfile.ZipInfo("schema.json", _EPOCH), schema)
            for old, new in files.items():
                canonical.writestr(
                    zipfile.ZipInfo(f"{new}.npy", _EPOCH), archive.read(f"{old}.npy")
                )
    return out.getvalue()


def trusted_types(path: Path) -> list[str]:
    """The non-default types in a skops file, refusing any outside scikit-learn and numpy."""
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    unexpected = [t for t in found if not t.startswith(_TRUSTED_PREFIXES)]
    if unexpected:
        raise ModelError(f"{path}: refusing to load a model holding unexpected types {unexpected}")
    return list(found)


def load_model(path: Path) -> Any:
    """Load a model saved by `save_model`."""
    import skops.io

    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    return skops.io.load(path, trusted=trusted_types(path))
