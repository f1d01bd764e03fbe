"""Applying init's plan, and undoing it when a later step fails."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_ml.infra import git
from gitops_ml.infra.files import write_atomic, write_text
from gitops_ml.template import settings
from gitops_ml.template.plan import Plan
from gitops_ml.template.workspace import git_tracked, run_dvc, uncommitted
from gitops_ml.template.yaml_edits import (
    Edits,
    calibrated_floors,
    dump_doc,
    load_doc,
    validate_params_text,
)

if TYPE_CHECKING:
    from rich.console import Console

BACKUP_DIR = ".init-backup"


@dataclass
class Journal:
    """What init moved aside, so a failure can put it back."""

    root: Path
    allowed: str | None
    moved: list[tuple[Path, Path]] = field(default_factory=list)

    def undo(self) -> None:
        """Return the repository to its last commit and the moved state to its place."""
        root = self.root
        git.succeeds(root, "reset", "-q")
        git.succeeds(root, "checkout", "-q", "HEAD", "--", ".")
        for rel in uncommitted(root, self.allowed):
            target = root / rel
            if target.is_file() or target.is_symlink():
                target.unlink()
        for original, moved in reversed(self.moved):
            if original.is_dir():
                shutil.rmtree(original)
            elif original.exists():
                original.unlink()
            moved.replace(original)


def apply(root: Path, the_plan: Plan, journal: Journal, console: Console) -> None:
    """Write the plan's changes (no pipeline run)."""
    if the_plan.move_aside:
        backup = root / BACKUP_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup.mkdir(parents=True, exist_ok=True)
        for name in the_plan.move_aside:
            moved = backup / name
            (root / name).replace(moved)
            journal.moved.append((root / name, moved))
        console.print(f"moved {', '.join(the_plan.move_aside)} to {backup.relative_to(root)}/")
    raw = the_plan.placement.raw
    if the_plan.copy:
        source = the_plan.source

        def copy(tmp: Path) -> None:
            shutil.copyfile(source, tmp)

        write_atomic(root / raw, copy)
    if the_plan.dvc_add:
        if git_tracked(root, raw):
            git.git(root, "rm", "-q", "--cached", "--", raw)
        run_dvc(root, "add", "-q", raw)
    write_text(root / "params.yaml", the_plan.params_text)
    write_text(root / "artifacts.yaml", the_plan.artifacts_text)
    if the_plan.codeowners_text is not None:
        write_text(root / settings.CODEOWNERS, the_plan.codeowners_text)
    if the_plan.remote_add is not None:
        remote = the_plan.remote_add
        run_dvc(root, "remote", "add", "--project", "-d", "-f", settings.REMOTE_NAME, remote.url)
        if remote.endpoint:
            run_dvc(
                root,
                "remote",
                "modify",
                "--project",
                settings.REMOTE_NAME,
                "endpointurl",
                remote.endpoint,
            )
    if the_plan.remote_remove is not None:
        run_dvc(root, "remote", "remove", "--project", the_plan.remote_remove)
    if the_plan.remove_example:
        old = the_plan.remove_example
        if (root / f"{old}.dvc").is_file():
            run_dvc(root, "remove", "-q", "--outs", f"{old}.dvc")
        elif git_tracked(root, old):
            git.git(root, "rm", "-q", "--", old)
        else:
            (root / old).unlink(missing_ok=True)


def calibrate_gates(root: Path) -> list[str]:
    """Set gates.floors from the first run's metrics; the changed lines."""
    params = validate_params_text((root / "params.yaml").read_text(encoding="utf-8"), "params.yaml")
    metrics = json.loads((root / "eval" / "metrics.json").read_text(encoding="utf-8"))
    floors = calibrated_floors(params.gates.floors, params.gates.max_drop, metrics)
    edits = Edits(load_doc((root / "params.yaml").read_text(encoding="utf-8")))
    for name, value in floors.items():
        edits.set(f"gates.floors.{name}", value)
    if edits.lines:
        text = dump_doc(edits.doc)
        validate_params_text(text, "params.yaml")
        write_text(root / "params.yaml", text)
    return edits.lines
