"""Reading YAML as DVC does (YAML 1.2), kept apart from params.py so light commands can use it."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitops_ml.core.errors import ParamsError


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML as DVC reads and writes params.yaml and dvc.lock; ParamsError naming `where`.

    YAML 1.2: `dvc exp run -S` rewrites params.yaml without quotes, and a YAML 1.1 reader would
    then turn a label such as `Yes` into a boolean.
    """
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ParamsError(f"{where}: not valid YAML: {exc}") from None
