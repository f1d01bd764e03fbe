"""Editing params.yaml and artifacts.yaml in place (comments and untouched lines kept), and the
gate floors init sets from the first run on new data.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from gitops_ml.core.metric_rules import higher_is_better
from gitops_ml.core.params import Params, parse_params

# Default tolerance under the first run's value when `gates.max_drop` has no entry for a floor.
FLOOR_TOLERANCE = 0.02


def _yaml() -> Any:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    # Write null, as the template does, not an empty value.
    rt.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return rt


def load_doc(text: str) -> Any:
    """A round-trip YAML document: edits keep every comment and untouched line."""
    return _yaml().load(text)


def dump_doc(doc: Any) -> str:
    """The document as text."""
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def _scalar(value: object) -> object:
    """Quote text that a YAML 1.1 reader would not read back as that text (`Yes`, `1.0`).

    params.yaml is read as YAML 1.2, as DVC reads it; quoting what 1.1 would change keeps the
    file the same to any other tool that reads it.
    """
    if not isinstance(value, str):
        return value
    try:
        same = bool(value) and yaml.safe_load(f"v: {value}")["v"] == value
    except yaml.YAMLError:
        same = False
    return value if same else DoubleQuotedScalarString(value)


def quoted(text: str) -> str:
    """Text written in double quotes: a YAML reader never takes it for a number or boolean."""
    out: str = DoubleQuotedScalarString(text)
    return out


def _differs(old: object, new: object) -> bool:
    # 1 == True and 1 == 1.0 in Python, not in a params file.
    return bool(old != new or type(old) is not type(new))


@dataclass
class Edits:
    """Changes to a YAML document, recorded as `path: old → new` lines for the user."""

    doc: Any
    lines: list[str] = field(default_factory=list)

    def set(self, dotted: str, value: object) -> None:
        """Set a key (creating its section) when the value differs."""
        *parents, leaf = dotted.split(".")
        node = self.doc
        for key in parents:
            if key not in node:
                node[key] = {}
            node = node[key]
        old = node.get(leaf, None) if leaf in node else _MISSING
        if old is not _MISSING and not _differs(_plain(old), _plain(value)):
            return
        node[leaf] = _scalar(value)
        shown_old = "(absent)" if old is _MISSING else _show(_plain(old))
        self.lines.append(f"{dotted}: {shown_old} → {_show(value)}")

    def drop(self, dotted: str) -> None:
        """Remove a key if present."""
        *parents, leaf = dotted.split(".")
        node = self.doc
        for key in parents:
            node = node.get(key, {})
        if leaf in node:
            self.lines.append(f"{dotted}: {_show(_plain(node[leaf]))} → (removed)")
            del node[leaf]


_MISSING = object()


def _plain(value: Any) -> Any:
    # ruamel's scalars (ScalarFloat, ScalarInt, quoted strings) as the plain values they hold.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _show(value: object) -> str:
    if isinstance(value, str):
        text = " ".join(value.split())
        return repr(text if len(text) <= 60 else text[:57] + "...")
    return "null" if value is None else repr(value)


def validate_params_text(text: str, where: str) -> Params:
    """Load params text exactly as `load_params` does; ParamsError naming the key otherwise."""
    return parse_params(text, where)


def artifacts_text(text: str, old_name: str, new_name: str, description: str | None) -> str:
    """artifacts.yaml with the model entry renamed (and re-described); other entries untouched."""
    doc = load_doc(text)
    if old_name != new_name and old_name in doc:
        keys = list(doc)
        entry = doc[old_name]
        pos = keys.index(old_name)
        del doc[old_name]
        doc.insert(pos, new_name, entry)
    elif new_name not in doc:
        doc[new_name] = {"type": "model", "path": "models/model.skops"}
    if description is not None:
        doc[new_name]["description"] = description
    out: str = dump_doc(doc)
    return out


def calibrated_floors(
    floors: dict[str, float], max_drop: dict[str, float], metrics: dict[str, float]
) -> dict[str, float]:
    """Floors set under the first run's metrics by each metric's allowed drop, rounded outward.

    The example's floors fit the example's data only; from the new data's first run, a floor
    lets later changes lose at most `max_drop` (or FLOOR_TOLERANCE) against the start.
    """
    out: dict[str, float] = {}
    for name, old in floors.items():
        value = metrics.get(name)
        if value is None or not math.isfinite(value):
            out[name] = old
            continue
        tolerance = max_drop.get(name, FLOOR_TOLERANCE)
        if not higher_is_better(name):
            out[name] = math.ceil(round((value + tolerance) * 100, 6)) / 100
        else:
            out[name] = max(0.0, math.floor(round((value - tolerance) * 100, 6)) / 100)
    return out
