"""An MLflow model made from the skops file `train` saved, without serialising the model again.

`mlflow.sklearn.log_model` would dump the fitted pipeline a second time (and with other bytes:
skops names arrays after memory addresses). Here the file of record is copied as it is, and
the directory around it is what `mlflow.sklearn.save_model` writes for a skops model: the
`sklearn` flavor (serialization_format skops, the allow-list of types), the `python_function`
flavor that `mlflow models serve` loads, the signature, and the requirements, listed rather
than inferred (inference re-imports the model in a subprocess). So the logged file hashes the
same as `models/model.skops`.
"""

from __future__ import annotations

import platform
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

MODEL_FILE = "model.skops"  # the name mlflow.sklearn gives a skops model's file
_ENV_FILES = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
# The packages a logged model needs to be loaded by MLflow's sklearn flavor.
_NEEDED = ("mlflow", "scikit-learn", "skops", "pandas")


def requirements() -> list[str]:
    """Pinned requirements of a logged model: MLflow, scikit-learn, skops, pandas."""
    return [f"{name}=={metadata.version(name)}" for name in _NEEDED]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class SavedSkopsFlavor:
    """A flavor module for `mlflow.models.Model.log` whose `save_model` copies a skops file."""

    # Model.log records the flavor's name on the logged model; the files are sklearn's.
    __name__ = "mlflow.sklearn"

    def __init__(self, model_path: Path) -> None:
        """Log the file at `model_path`, loadable by MLflow through the model files' allow-list."""
        self.model_path = model_path

    def save_model(self, path: str, mlflow_model: Any, signature: Any = None, **_: Any) -> None:
        """Write the MLflow model directory at `path` around a copy of the skops file."""
        from mlflow import pyfunc

        # Here, not at the top: the CLI imports this module (through tracking) on every command,
        # `--help` included, and the allow-list needs numpy.
        from gitops_ml.infra.model_files import trusted_names

        root = Path(path)
        root.mkdir(parents=True)
        shutil.copyfile(self.model_path, root / MODEL_FILE)
        if signature is not None:
            mlflow_model.signature = signature
        pyfunc.add_to_model(
            mlflow_model,
            loader_module="mlflow.sklearn",
            model_path=MODEL_FILE,
            conda_env=_ENV_FILES["conda"],
            python_env=_ENV_FILES["virtualenv"],
            predict_fn="predict",
        )
        mlflow_model.add_flavor(
            "sklearn",
            pickled_model=MODEL_FILE,
            sklearn_version=metadata.version("scikit-learn"),
            serialization_format="skops",
            code=None,
            skops_trusted_types=trusted_names(),
        )
        mlflow_model.model_size_bytes = (root / MODEL_FILE).stat().st_size
        mlflow_model.save(str(root / "MLmodel"))
        _write_environment(root, requirements())


def _write_environment(root: Path, pins: list[str]) -> None:
    python = platform.python_version()
    pip = _version("pip")
    (root / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
    build = [f"pip=={pip}" if pip else "pip", "setuptools", "wheel"]
    python_env = {
        "python": python,
        "build_dependencies": build,
        "dependencies": ["-r requirements.txt"],
    }
    (root / _ENV_FILES["virtualenv"]).write_text(yaml.safe_dump(python_env, sort_keys=False))
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", f"pip<={pip}" if pip else "pip", {"pip": pins}],
        "name": "mlflow-env",
    }
    (root / _ENV_FILES["conda"]).write_text(yaml.safe_dump(conda, sort_keys=False))
