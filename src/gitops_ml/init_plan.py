"""The pure core of `gitops-ml init`: guesses about a dataset, checks of the answers, the edits.

Nothing here touches the repository: `gitops_ml.init` reads the state, asks, and applies.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import pandas as pd

from gitops_ml.errors import DataError, ParamsError, UserError
from gitops_ml.metric_names import LOWER_IS_BETTER

if TYPE_CHECKING:
    from gitops_ml.data import Table
    from gitops_ml.params import DataParams, Params
    from gitops_ml.schema import FeatureSchema

Track = Literal["auto", "git", "dvc"]
# Above this size a dataset goes under DVC instead of git: the pre-commit hook
# check-added-large-files refuses files over 2048 kB, and git is a poor store for big binaries.
GIT_MAX_BYTES = 2048 * 1024
REMOTE_NAME = "storage"
RAW_DIR = PurePosixPath("data/raw")
# Names that usually mark the target column or its positive value, lower-cased.
TARGET_NAMES = ("target", "label", "class", "y", "outcome", "status", "churn", "churned", "default")
POSITIVE_NAMES = ("yes", "true", "1", "y", "positive", "pos")
# Default tolerance under the first run's value when `gates.max_drop` has no entry for a floor.
FLOOR_TOLERANCE = 0.02
CLOUD_SCHEMES = ("s3", "gs", "azure")
CODEOWNERS = ".github/CODEOWNERS"
# The template's stand-in owner: GitHub ignores an owner that does not exist, so until it is
# replaced no review is required.
PLACEHOLDER_OWNER = "@your-org/ml-owners"
# GitHub's forms of a code owner: @user (1-39 letters, digits, inner hyphens), @org/team-slug,
# or the e-mail address of a user.
_OWNER = re.compile(
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?"
    r"|[^@\s]+@[^@\s]+\.[^@\s]+"
)


# ---------------------------------------------------------------- guesses about a dataset


def binary_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding exactly two distinct values: the candidates for the target."""
    return [str(c) for c in frame.columns if frame[c].nunique(dropna=True) == 2]


def guess_target(frame: pd.DataFrame) -> str | None:
    """A two-valued column named like a target, else the last two-valued column."""
    candidates = binary_columns(frame)
    for col in candidates:
        if col.lower() in TARGET_NAMES:
            return col
    return candidates[-1] if candidates else None


def target_values(frame: pd.DataFrame, target: str) -> dict[str, int]:
    """Counts of each value of the target column, as text (how params.yaml names labels)."""
    counts = frame[target].dropna().astype(str).str.strip().value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def guess_positive(counts: dict[str, int]) -> str:
    """A value named like a positive label (yes, true, 1), else the rarer class."""
    for value in counts:
        if value.lower() in POSITIVE_NAMES:
            return value
    return min(counts, key=lambda v: (counts[v], v))


def guess_id_column(frame: pd.DataFrame, target: str | None) -> str | None:
    """A column whose values are all present and distinct, and that is named like an
    identifier or holds text (a text column with no repeated value cannot be a useful feature).
    """
    for col in frame.columns:
        name = str(col)
        series = frame[col]
        if name == target or pd.api.types.is_float_dtype(series) or series.isna().any():
            continue
        lowered = name.lower()
        named = lowered == "id" or lowered.endswith(("_id", "id", "_key", "_ref"))
        text = not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if (named or text) and series.is_unique:
            return name
    return None


def model_name_for(project: str) -> str:
    """A registered-model name made from a project name: `<project>-model`, safe for GTO."""
    import re

    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", project.strip()).strip("-_").lower()
    return f"{slug or 'project'}-model"


# ---------------------------------------------------------------- the data, as prepare sees it


@dataclass(frozen=True)
class DataSummary:
    """What init learned from the dataset: the schema prepare will infer and the class balance."""

    path: Path
    rows: int
    schema: FeatureSchema
    counts: dict[str, int]

    @property
    def positive_rate(self) -> float:
        """Share of rows with the positive label."""
        return self.counts[self.schema.positive_label] / sum(self.counts.values())


def check_target(table: Table, target: str) -> dict[str, int]:
    """The target's value counts; DataError naming file, column and values when unusable."""
    frame = table.frame
    if target not in frame.columns:
        binary = binary_columns(frame)
        hint = f"; two-valued columns: {binary}" if binary else ""
        raise DataError(
            f"{table.path}: no column {target!r} for the target; "
            f"its columns are {[str(c) for c in frame.columns]}{hint}"
        )
    counts = target_values(frame, target)
    if len(counts) != 2:
        raise DataError(
            f"{table.path}: column {target!r} holds {len(counts)} distinct values "
            f"{list(counts)[:10]}; the target must have exactly two"
        )
    return counts


def check_positive(table: Table, target: str, counts: dict[str, int], positive: str) -> None:
    """DataError naming file, column and the values present when `positive` is not one."""
    if positive not in counts:
        raise DataError(
            f"{table.path}: column {target!r}: positive label {positive!r} does not occur; "
            f"the values present are {list(counts)}"
        )


def summarize(table: Table, params: DataParams, seed: int) -> DataSummary:
    """Validate the data exactly as the prepare stage will, and say what it inferred."""
    from gitops_ml import data

    counts = check_target(table, params.target)
    check_positive(table, params.target, counts, str(params.positive_label))
    # The stage's own code: a dataset that passes here passes `dvc repro`'s prepare.
    _, _, schema = data.prepare(table, params, seed)
    positive = str(params.positive_label)
    ordered = {positive: counts[positive], **{k: v for k, v in counts.items() if k != positive}}
    return DataSummary(path=table.path, rows=len(table.frame), schema=schema, counts=ordered)


# ---------------------------------------------------------------- where the data goes


@dataclass(frozen=True)
class Placement:
    """Where the dataset lives in the repository and how it is versioned."""

    raw: str  # data.raw: repo-relative, POSIX
    copy_from: Path | None  # a file outside the repository, copied to `raw`
    dvc: bool  # versioned by `dvc add` (a .dvc file in git) rather than by git itself


def place_data(
    source: Path,
    root: Path,
    size: int,
    track: Track,
    tracked_by_dvc: bool,
) -> Placement:
    """Decide `data.raw` and the versioning of a dataset given as `source` (absolute)."""
    try:
        rel = PurePosixPath(source.relative_to(root).as_posix())
        copy_from = None
    except ValueError:
        rel = RAW_DIR / source.name
        copy_from = source
    if rel.parts[0] in (".git", ".dvc") or str(rel).startswith("data/prepared"):
        raise UserError(f"{source}: a dataset cannot live in {rel.parts[0]}/; put it in data/raw/")
    dvc = tracked_by_dvc or track == "dvc" or (track == "auto" and size > GIT_MAX_BYTES)
    return Placement(raw=str(rel), copy_from=copy_from, dvc=dvc)


# ---------------------------------------------------------------- DVC remote


@dataclass(frozen=True)
class Remote:
    """A DVC remote as .dvc/config holds it (never with credentials)."""

    url: str
    endpoint: str | None = None

    @property
    def scheme(self) -> str:
        """s3, gs, azure, or local."""
        scheme = urlsplit(self.url).scheme
        return scheme if scheme in CLOUD_SCHEMES else "local"


_NO_CREDENTIALS = (
    "credentials do not belong in .dvc/config (it is committed); set them with "
    "`dvc remote modify --local {name} <option> <value>` (written to .dvc/config.local, "
    "git-ignored) or the cloud's usual environment variables"
)


def parse_remote(text: str, endpoint: str | None, root: Path, cwd: Path) -> Remote | None:
    """Check a --remote answer: none, a local path outside the repo, s3://, gs:// or azure://."""
    from gitops_ml.params import credentials_in_uri

    text = text.strip()
    if text.lower() in ("", "none"):
        if endpoint:
            raise UserError("--s3-endpoint needs an s3:// remote")
        return None
    hint = _NO_CREDENTIALS.format(name=REMOTE_NAME)
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in CLOUD_SCHEMES:
            raise UserError(
                f"--remote {text}: unsupported scheme {parts.scheme!r}; expected none, a local "
                "path, s3://bucket/path, gs://bucket/path or azure://container/path"
            )
        if not parts.netloc:
            raise UserError(f"--remote {text}: no bucket or container after {parts.scheme}://")
        if "@" in parts.netloc or parts.query or credentials_in_uri(text):
            raise UserError(f"--remote {text}: {hint}")
        if endpoint and parts.scheme != "s3":
            raise UserError("--s3-endpoint applies to s3:// remotes only")
        return Remote(url=text.rstrip("/"), endpoint=_endpoint(endpoint) if endpoint else None)
    if endpoint:
        raise UserError("--s3-endpoint needs an s3:// remote")
    path = Path(text).expanduser()
    path = (path if path.is_absolute() else cwd / path).resolve()
    if path == root or root in path.parents:
        raise UserError(
            f"--remote {path}: a local remote must be outside the repository "
            "(it stores every version of data and models)"
        )
    if path.exists() and not path.is_dir():
        raise UserError(f"--remote {path}: exists and is not a directory")
    return Remote(url=str(path))


def _endpoint(text: str) -> str:
    from gitops_ml.params import credentials_in_uri

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--s3-endpoint {text}: expected http(s)://host[:port]")
    if "@" in parts.netloc or credentials_in_uri(text):
        raise UserError(f"--s3-endpoint {text}: " + _NO_CREDENTIALS.format(name=REMOTE_NAME))
    return text.rstrip("/")


def parse_tracking_uri(text: str | None) -> str | None:
    """A --tracking-uri answer: None for the local SQLite store, else the URI (checked later)."""
    if text is None or text.strip().lower() in ("", "none", "local"):
        return None
    return text.strip()


# ---------------------------------------------------------------- .github/CODEOWNERS


def parse_owners(text: str) -> list[str]:
    """An --owners answer ("@org/team @user", commas allowed): the owners, checked, once each."""
    owners = [o for o in re.split(r"[\s,]+", text.strip()) if o]
    if not owners:
        raise UserError("--owners: expected at least one owner, e.g. @your-org/ml-team")
    bad = [o for o in owners if not _OWNER.fullmatch(o)]
    if bad:
        raise UserError(
            f"--owners {bad[0]!r}: expected a GitHub @user, @org/team or a user's e-mail address"
        )
    return list(dict.fromkeys(owners))


def _rule(line: str) -> re.Match[str] | None:
    """A CODEOWNERS rule split into its pattern (with the spaces after it) and its owners."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    return re.match(r"(\S+\s+)(\S.*)$", line)


def codeowners_owners(text: str) -> list[str]:
    """The owners named by a CODEOWNERS file's rules, in order, once each."""
    found = [o for line in text.splitlines() if (m := _rule(line)) for o in m[2].split()]
    return list(dict.fromkeys(found))


def codeowners_with(text: str, owners: list[str]) -> str:
    """The CODEOWNERS text with `owners` on every rule; patterns, alignment, comments kept."""
    lines = []
    for line in text.splitlines(keepends=True):
        m = _rule(line.rstrip("\n"))
        end = "\n" if line.endswith("\n") else ""
        lines.append(f"{m[1]}{' '.join(owners)}{end}" if m else line)
    return "".join(lines)


# ---------------------------------------------------------------- params.yaml and artifacts.yaml


def _yaml() -> Any:
    from ruamel.yaml import YAML

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
    """Quote text that YAML 1.1 (PyYAML, read by params.py) would not read back as that text."""
    import yaml
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if not isinstance(value, str):
        return value
    try:
        same = bool(value) and yaml.safe_load(f"v: {value}")["v"] == value
    except yaml.YAMLError:
        same = False
    return value if same else DoubleQuotedScalarString(value)


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
        if old is not _MISSING and not _differs(_plain(old), value):
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
    if isinstance(value, str):
        return str(value)
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
    import yaml
    from pydantic import ValidationError

    from gitops_ml.params import Params, _describe

    raw = yaml.safe_load(text)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc, Path(where))) from None


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


# ---------------------------------------------------------------- gates after the first run


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
        if name in LOWER_IS_BETTER:
            out[name] = math.ceil(round((value + tolerance) * 100, 6)) / 100
        else:
            out[name] = max(0.0, math.floor(round((value - tolerance) * 100, 6)) / 100)
    return out
