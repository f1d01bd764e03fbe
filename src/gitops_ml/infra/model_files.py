"""Model files: saved with skops, byte-reproducibly, and loaded only through a trust policy.

The one home of how a model becomes bytes and bytes become a model again: training saves here,
and every command that loads a model (evaluate, serve, predict, monitor, promote, rollback)
loads it here, from a local file or from bytes read out of the registry.

The trust policy is an exact allow-list. A model file may hold the classes the template's model
building produces (`core.model_types`, each through the one skops loader that rebuilds it),
numpy arrays, numpy number and boolean scalars, dtypes and random generators, and Python
containers, and nothing else. The file's schema is read and checked before skops constructs a
single object, so a file that names any other type (a function of numpy, scipy or scikit-learn
that runs a string, say) is refused before anything in it can run. Pickle is never used.
"""

from __future__ import annotations

import functools
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from gitops_ml.core.errors import ModelError
from gitops_ml.core.model_types import model_types
from gitops_ml.infra.files import write_bytes

# skops (and with it scikit-learn) is imported inside the functions that use it (`_skops_io`):
# checking a file against the allow-list needs neither, and `track` checks without loading.
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
# Python containers and numpy's own objects, by the skops loader that rebuilds each: none of
# them calls anything the file names.
_STRUCTURE = frozenset(
    {
        ("DictNode", "builtins.dict"),
        ("ListNode", "builtins.list"),
        ("TupleNode", "builtins.tuple"),
        ("SliceNode", "builtins.slice"),
        ("TypeNode", "builtins.str"),
        ("DTypeNode", "numpy.dtype"),
        # skops itself checks that the generator's bit generator is one of numpy's.
        ("RandomGeneratorNode", "numpy.random._generator.Generator"),
    }
)
# Loaders that build nothing from the type they name: a JSON value (parsed, never constructed)
# and a reference to an object met earlier in the same file (checked where it was met).
_NAMELESS = frozenset({"JsonNode", "CachedNode"})
# An array's type: ndarray itself, or a numpy scalar made from a one-value array.
_ARRAY = "NdArrayNode"


def _numpy_scalars() -> frozenset[str]:
    kinds = {t for t in np.sctypeDict.values() if issubclass(t, np.number | np.bool_)}
    return frozenset(f"numpy.{t.__name__}" for t in kinds)


@functools.cache
def allowed_types() -> frozenset[tuple[str, str]]:
    """The (skops loader, type) pairs a model file may hold: what the template's models need."""
    arrays = {(_ARRAY, name) for name in {"numpy.ndarray", *_numpy_scalars()}}
    return frozenset(model_types() | arrays | _STRUCTURE)


def trusted_names() -> list[str]:
    """The type names of the allow-list, as skops and MLflow's `skops_trusted_types` take them."""
    return sorted({name for _, name in allowed_types()})


def _skops_io() -> ModuleType:
    """skops.io, imported without enumerating every scikit-learn estimator.

    On import skops lists all of scikit-learn's estimators (`sklearn.utils.all_estimators`,
    which imports every scikit-learn module: about a second and 25 MB) for its default trust
    list. That list is used only when a load passes none, and this module always passes its own
    exact allow-list, so the enumeration is skipped while skops.io is first imported.
    """
    if "skops.io" not in sys.modules:
        import sklearn.utils

        enumerate_all = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = lambda *_, **__: []
        try:
            import skops.io  # noqa: F401
        finally:
            sklearn.utils.all_estimators = enumerate_all
    return sys.modules["skops.io"]


def save_model(model: Any, path: Path) -> None:
    """Save with skops (no pickle: loading it cannot run arbitrary code), byte-reproducibly."""
    write_bytes(path, canonical_skops(_skops_io().dumps(model)))


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


def held_types(data: bytes, where: str) -> set[tuple[str, str]]:
    """Every (skops loader, type) pair the schema of a skops file names, read as plain JSON."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{where}: not a skops model file ({exc})") from None
    found: set[tuple[str, str]] = set()
    pending: list[Any] = [schema]
    while pending:  # iterative: a crafted file may nest deeper than Python recurses
        node = pending.pop()
        if isinstance(node, dict):
            if "__loader__" in node:
                found.add(
                    (str(node["__loader__"]), f"{node.get('__module__')}.{node.get('__class__')}")
                )
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def refused_types(data: bytes, where: str) -> list[str]:
    """The types of a skops file outside the allow-list, as `type (loader)`; empty when none."""
    allowed = allowed_types()
    return sorted(
        f"{name} ({loader})"
        for loader, name in held_types(data, where)
        if loader not in _NAMELESS and (loader, name) not in allowed
    )


def check_allowed(data: bytes, where: str) -> None:
    """Refuse (ModelError naming `where`) a skops file that holds a type outside the allow-list.

    Reads the file's schema only: nothing in it is built, and no scikit-learn is imported.
    """
    refused = refused_types(data, where)
    if refused:
        raise ModelError(
            f"{where}: refusing to load a model file that holds types outside the template's "
            f"models: {refused}. Only the classes `train.model.type` can build "
            "(src/gitops_ml/core/model_types.py), numpy arrays and Python containers are loaded"
        )


def load_model_bytes(data: bytes, where: str) -> Any:
    """The model in a skops file's bytes, after the allow-list check; ModelError naming `where`."""
    check_allowed(data, where)
    skops_io = _skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops_io.loads(data, trusted=trusted_names())
    except UntrustedTypesFoundException as exc:
        raise ModelError(f"{where}: refusing to load a model file: {exc}") from None
    except Exception as exc:  # a file of allowed types can still be malformed in any way
        raise ModelError(
            f"{where}: cannot be loaded as a model: {type(exc).__name__}: {exc}"
        ) from None


def load_model(path: Path) -> Any:
    """Load a model file saved by `save_model`, through the allow-list."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    return load_model_bytes(path.read_bytes(), str(path))
