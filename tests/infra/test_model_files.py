"""Model files: saved byte-reproducibly with skops, loaded only through an exact allow-list."""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import typing
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io

from gitops_ml.core import model_types
from gitops_ml.core.errors import ModelError
from gitops_ml.core.model import build_pipeline, positive_proba
from gitops_ml.core.params import ModelParams, TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import model_files
from gitops_ml.infra.model_files import (
    allowed_types,
    held_types,
    load_model,
    load_model_bytes,
    save_model,
)

from ..support import crafted

SCHEMA = FeatureSchema("y", "1", "0", ("x",), ("c",))


def _frame(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    """Features typed as `prepare` writes them: float64 numbers, text categories, int8 target."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": pd.Series(rng.choice(["a", "b", "c"], n)).astype("category"),
        }
    )
    y = ((frame["x"] + (frame["c"] == "a") + rng.normal(size=n)) > 0.5).astype("int8")
    return frame, y


def _fitted(kind: str = "hist_gradient_boosting", **hyper: object) -> tuple[object, pd.DataFrame]:
    frame, y = _frame()
    settings = TrainParams.model_validate({"model": {"type": kind, **hyper}})
    return build_pipeline(SCHEMA, settings, seed=0).fit(frame, y), frame


# Small versions of each estimator: the classes a fitted model holds do not depend on its size.
SMALL = {"random_forest": {"n_estimators": 3}, "hist_gradient_boosting": {"max_iter": 5}}
MODEL_TYPES = sorted(
    typing.get_args(cls.model_fields["type"].annotation)[0]
    for cls in typing.get_args(typing.get_args(ModelParams)[0])
)


def test_model_file_round_trips_byte_identically(tmp_path: Path) -> None:
    """Saving twice gives the same bytes, and the loaded model predicts the same."""
    model, frame = _fitted(max_iter=20)
    save_model(model, tmp_path / "a.skops")
    save_model(model, tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    loaded = load_model(tmp_path / "a.skops")
    np.testing.assert_array_equal(positive_proba(loaded, frame), positive_proba(model, frame))


def test_every_model_type_has_its_classes_listed() -> None:
    """Each `train.model.type` params allow names the classes its fitted model holds."""
    assert sorted(model_types.ESTIMATORS) == MODEL_TYPES


def test_the_listed_names_are_the_classes_with_their_loaders() -> None:
    """Each listed name imports as that very class (not an alias re-exported elsewhere), and is
    rebuilt by the loader skops gives its kind: Cython trees and losses by their constructors."""
    from sklearn._loss._loss import CyLossFunction
    from sklearn.tree._tree import Tree

    for loader, name in model_types.model_types():
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        assert f"{cls.__module__}.{cls.__qualname__}" == name
        kind = (
            "TreeNode"
            if issubclass(cls, Tree)
            else "LossNode"
            if issubclass(cls, CyLossFunction)
            else "ObjectNode"
        )
        assert loader == kind, name


def test_checking_a_file_against_the_allow_list_imports_no_scikit_learn(tmp_path: Path) -> None:
    """`track` checks a model file without scikit-learn (its memory and start-up): the check
    refuses a crafted file and passes a real one in a process that never imports it."""
    model, _ = _fitted(max_iter=5)
    save_model(model, tmp_path / "m.skops")
    (tmp_path / "evil.skops").write_bytes(crafted.standalone(tmp_path / "marker"))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitops_ml.infra.model_files import refused_types, trusted_names\n"
        "for name in ('m.skops', 'evil.skops'):\n"
        "    print(name, refused_types(Path(name).read_bytes(), name))\n"
        "print(len(trusted_names()), 'sklearn' in sys.modules, 'skops' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "m.skops []"
    assert lines[1].startswith("evil.skops [")
    assert "runstring" in lines[1]
    assert lines[2] == f"{len(model_files.trusted_names())} False False"


def test_the_allow_list_is_exactly_what_the_models_hold(tmp_path: Path) -> None:
    """Every type a fitted model of each `train.model.type` holds is allowed, and every class
    allowed is held by one of them: adding an estimator without listing its classes, or
    listing a class no model holds, fails here."""
    held: set[tuple[str, str]] = set()
    for kind in MODEL_TYPES:
        for weights in (None, "balanced"):
            settings = TrainParams.model_validate(
                {"model": {"type": kind, **SMALL.get(kind, {})}, "class_weight": weights}
            )
            frame, y = _frame()
            fitted = build_pipeline(SCHEMA, settings, seed=0).fit(frame, y)
            save_model(fitted, tmp_path / "m.skops")
            found = held_types((tmp_path / "m.skops").read_bytes(), "m.skops")
            found.discard(("JsonNode", "builtins.str"))  # JSON values: parsed, never built
            assert found <= allowed_types(), (kind, sorted(found - allowed_types()))
            held |= found
            load_model(tmp_path / "m.skops")  # and it loads
    numpy_scalars = {p for p in allowed_types() if p[0] == "NdArrayNode"}
    unused = allowed_types() - held - numpy_scalars
    assert not unused, f"allowed but held by no model: {sorted(unused)}"


# --- crafted files: every type name in them starts with numpy. or sklearn. ------------------

CRAFTED = {
    "numpy exec, called as a constructor": lambda m: crafted.standalone(m),
    "scikit-learn script runner": lambda m: crafted.standalone(m, crafted.RUN_SCRIPT),
    "numpy exec, through the loss loader": lambda m: crafted.standalone(m, loader="loss"),
}


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_file_is_refused_and_runs_nothing(tmp_path: Path, kind: str) -> None:
    """A file calling a string-running callable of numpy or scikit-learn is refused, naming
    it, and its code does not run; loaded as skops' own check would allow (every type it lists
    trusted, all of them named `numpy.` or `sklearn.`), the same file runs its code."""
    marker = tmp_path / "pwned"
    data = CRAFTED[kind](marker)
    listed = skops.io.get_untrusted_types(data=data)
    assert listed
    assert all(name.startswith(("numpy.", "sklearn.")) for name in listed)
    path = tmp_path / "model.skops"
    path.write_bytes(data)
    with pytest.raises(ModelError, match=r"refusing to load .* types outside the template's"):
        load_model(path)
    assert not marker.exists()
    with contextlib.suppress(Exception):  # what the callable returns is no model anyway
        skops.io.loads(data, trusted=listed)
    assert marker.exists(), "the crafted file must really run code when trusted"


def test_a_payload_hidden_inside_a_real_model_is_found(tmp_path: Path) -> None:
    """A working pipeline with the payload as one more attribute of its estimator is refused;
    trusting what skops lists loads a working pipeline and runs the payload."""
    model, frame = _fitted(max_iter=5)
    save_model(model, tmp_path / "real.skops")
    marker = tmp_path / "pwned"
    data = crafted.hidden_in((tmp_path / "real.skops").read_bytes(), marker)
    with pytest.raises(ModelError, match=r"numpy\.testing\._private\.utils\.runstring"):
        load_model_bytes(data, "hidden.skops")
    assert not marker.exists()
    naive = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert marker.exists()
    np.testing.assert_array_equal(positive_proba(naive, frame), positive_proba(model, frame))


def test_nothing_is_constructed_before_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused file never reaches skops' loader: the check reads the schema as plain JSON."""
    calls: list[object] = []
    monkeypatch.setattr(skops.io, "loads", lambda *a, **k: calls.append(a))
    with pytest.raises(ModelError):
        load_model_bytes(crafted.standalone(tmp_path / "pwned"), "x.skops")
    assert calls == []
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a zip at all", "not a skops model file"),
        (b"PK\x05\x06" + b"\0" * 18, "not a skops model file"),  # an empty zip: no schema.json
    ],
)
def test_a_file_that_is_not_skops_is_one_clear_error(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """Bytes that are no skops archive give one message naming the file."""
    path = tmp_path / "model.skops"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=expected):
        load_model(path)


def test_a_malformed_file_of_allowed_types_is_one_clear_error(tmp_path: Path) -> None:
    """Allowed types with a broken state (a missing array) are refused with a message."""
    model, _ = _fitted(max_iter=5)
    save_model(model, tmp_path / "m.skops")
    broken = tmp_path / "broken.skops"
    with (
        zipfile.ZipFile(tmp_path / "m.skops") as src,
        zipfile.ZipFile(broken, "w") as dst,
    ):
        for item in src.infolist()[:-1]:  # drop the last array
            dst.writestr(item, src.read(item))
    with pytest.raises(ModelError, match=r"broken.skops: cannot be loaded as a model: KeyError"):
        load_model(broken)


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    """A missing model file is a clear error, not a traceback."""
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path / "none.skops")


def test_trusted_names_list_the_allowed_types() -> None:
    """The names handed to skops and MLflow are those of the allow-list, nothing broader."""
    names = model_files.trusted_names()
    assert "sklearn.pipeline.Pipeline" in names
    assert "sklearn.tree._tree.Tree" in names
    assert not [n for n in names if "testing" in n or n.endswith("runstring")]
