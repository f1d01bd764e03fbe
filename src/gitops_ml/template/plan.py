"""Everything init will change, decided from the checked answers before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitops_ml.core.params import Params
from gitops_ml.infra.files import md5
from gitops_ml.template import settings
from gitops_ml.template.questions import Answers
from gitops_ml.template.settings import Placement, Remote, Track
from gitops_ml.template.workspace import current_remote
from gitops_ml.template.yaml_edits import (
    Edits,
    artifacts_text,
    dump_doc,
    load_doc,
    quoted,
    validate_params_text,
)

# Local, git-ignored state the example leaves behind: its MLflow runs and registry, and reports
# (model cards, decisions) of its models. Moved aside, never deleted, when the project changes.
STALE_STATE = ("mlflow.db", "mlruns", "mlartifacts", "reports")


@dataclass
class Plan:
    """Everything init will change."""

    placement: Placement
    source: Path
    params_text: str
    params_lines: list[str]
    artifacts_text: str
    remote_add: Remote | None = None
    remote_remove: str | None = None
    remove_example: str | None = None
    copy: bool = False
    dvc_add: bool = False
    data_changed: bool = False
    move_aside: list[str] = field(default_factory=list)
    artifacts_changed: bool = False
    codeowners_text: str | None = None

    def describe(self) -> list[str]:
        """The changes, one line each."""
        lines = []
        if self.copy:
            lines.append(f"copy {self.source} → {self.placement.raw}")
        if self.dvc_add:
            lines.append(f"dvc add {self.placement.raw} (versioned by DVC, not git)")
        lines += [f"params.yaml {line}" for line in self.params_lines]
        if self.artifacts_changed:
            lines.append("artifacts.yaml: the model's entry follows its new name and data")
        if self.remote_add is not None:
            endpoint = f" (endpoint {self.remote_add.endpoint})" if self.remote_add.endpoint else ""
            lines.append(
                f".dvc/config: default remote {settings.REMOTE_NAME} = "
                f"{self.remote_add.url}{endpoint}"
            )
        if self.remote_remove is not None:
            lines.append(f".dvc/config: remove remote {self.remote_remove}")
        if self.codeowners_text is not None:
            owners = " ".join(settings.codeowners_owners(self.codeowners_text))
            lines.append(f"{settings.CODEOWNERS}: review by {owners}")
        if self.remove_example:
            lines.append(f"remove the example data {self.remove_example}")
        if self.move_aside:
            lines.append(f"move aside stale local state: {', '.join(self.move_aside)}")
        return lines

    @property
    def empty(self) -> bool:
        """True when there is nothing to change."""
        return not (
            self.copy
            or self.dvc_add
            or self.params_lines
            or self.remote_add
            or self.remote_remove
            or self.remove_example
            or self.artifacts_changed
            or self.codeowners_text is not None
        )


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size and md5(a) == md5(b)


def _params_edits(root: Path, answers: Answers, data_changed: bool) -> Edits:
    """The edits of params.yaml, comments kept; checked to load as params."""
    section = answers.data_section
    edits = Edits(load_doc((root / "params.yaml").read_text(encoding="utf-8")))
    for key in ("raw", "target", "id_column"):
        edits.set(f"data.{key}", section[key])
    # Labels are compared as text: quoted, `1` or `true` stays the text the file holds.
    edits.set("data.positive_label", quoted(str(section["positive_label"])))
    for key in answers.dropped:
        edits.drop(f"data.{key}")
    if section.get("drop_columns"):
        edits.set("data.drop_columns", section["drop_columns"])
    else:
        edits.drop("data.drop_columns")
    if answers.slices is not None:
        edits.set("evaluate.slices", answers.slices)
    edits.set("mlflow.experiment", answers.name)
    edits.set("registry.model_name", answers.model_name)
    edits.set("tracking.uri", answers.tracking_uri)
    if data_changed:
        # What the example says about its own use and limits must not reach the new model card.
        edits.set("registry.intended_use", "")
        edits.set("registry.limitations", [])
    validate_params_text(dump_doc(edits.doc), "params.yaml (as init would write it)")
    return edits


def _artifacts(root: Path, current: Params, answers: Answers, data_changed: bool) -> str:
    """artifacts.yaml with the model's entry renamed, and re-described for new data."""
    section = answers.data_section
    description = (
        f"Binary classifier of `{section['target']}` (positive label "
        f"`{section['positive_label']}`): a scikit-learn Pipeline saved with skops, "
        "built by dvc.yaml's train stage."
        if data_changed
        else None
    )
    return artifacts_text(
        (root / "artifacts.yaml").read_text(encoding="utf-8"),
        current.registry.model_name,
        answers.model_name,
        description,
    )


def _remote_change(root: Path, wanted: Remote | None) -> tuple[Remote | None, str | None]:
    """(remote to add, remote to remove) to make `wanted` the default remote."""
    now = current_remote(root)
    if wanted is not None and (
        now is None or now.name != settings.REMOTE_NAME or now.remote != wanted
    ):
        return wanted, None
    if wanted is None and now is not None:
        return None, now.name
    return None, None


def _codeowners(root: Path, owners: list[str] | None) -> str | None:
    """The new CODEOWNERS text, or None when it stays as it is."""
    if owners is None:
        return None
    text = (root / settings.CODEOWNERS).read_text(encoding="utf-8")
    return (
        None
        if settings.codeowners_owners(text) == owners
        else settings.codeowners_with(text, owners)
    )


def make_plan(root: Path, current: Params, answers: Answers, track: Track) -> Plan:
    """Everything init will change, from the checked answers and the repository's state."""
    source, section = answers.source, answers.data_section
    placement = settings.place_data(
        source, root, source.stat().st_size, track, (root / f"{section['raw']}.dvc").is_file()
    )
    copy = placement.copy_from is not None and not _same_file(source, root / placement.raw)
    data_changed = (
        placement.raw != current.data.raw
        or copy
        or section["target"] != current.data.target
        or str(section["positive_label"]) != str(current.data.positive_label)
    )
    edits = _params_edits(root, answers, data_changed)
    artifacts = _artifacts(root, current, answers, data_changed)
    remote_add, remote_remove = _remote_change(root, answers.remote)
    old = root / current.data.raw
    remove_example = answers.remove_example and (old.is_file() or Path(f"{old}.dvc").is_file())
    renamed = answers.model_name != current.registry.model_name
    return Plan(
        placement=placement,
        source=source,
        params_text=dump_doc(edits.doc),
        params_lines=edits.lines,
        artifacts_text=artifacts,
        artifacts_changed=artifacts != (root / "artifacts.yaml").read_text(encoding="utf-8"),
        copy=copy,
        dvc_add=placement.dvc and (copy or not (root / f"{placement.raw}.dvc").is_file()),
        data_changed=data_changed,
        remote_add=remote_add,
        remote_remove=remote_remove,
        codeowners_text=_codeowners(root, answers.owners),
        remove_example=current.data.raw if remove_example else None,
        move_aside=[n for n in STALE_STATE if (root / n).exists()]
        if data_changed or renamed
        else [],
    )
