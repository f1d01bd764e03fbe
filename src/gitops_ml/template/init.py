"""`gitops-ml init`: turn a clone of the template into a project on the user's own data.

It asks (or takes flags for) the dataset, target, positive label, names, DVC remote, MLflow
tracking URI and code owners (`questions`); validates the data exactly as the prepare stage
will and shows what it inferred; plans every change (`plan`); then edits params.yaml (comments
kept), artifacts.yaml, .dvc/config and .github/CODEOWNERS, places the data, runs `dvc repro`
once so dvc.lock and eval/ describe the new data, and stages the result for one commit
(`apply`). It refuses to start over uncommitted work and undoes its changes if a step fails;
run again with the same answers, it changes nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_ml.core.params import load_params
from gitops_ml.infra import git
from gitops_ml.template import settings
from gitops_ml.template.apply import Journal, apply, calibrate_gates
from gitops_ml.template.plan import Plan, make_plan
from gitops_ml.template.questions import Answers, Ask, Asker, Options, collect_answers
from gitops_ml.template.workspace import check_repository, relative, run_dvc

if TYPE_CHECKING:
    from rich.console import Console


def _old_tags(root: Path, name: str) -> list[str]:
    """GTO tags (registrations, assignments) of a model name: the example's promotions."""
    return (git.query(root, "tag", "--list", f"{name}@*", f"{name}#*") or "").split()


def _next_steps(
    console: Console, root: Path, the_plan: Plan, answers: Answers, old_name: str
) -> None:
    tags = _old_tags(root, old_name) if the_plan.data_changed else []
    if tags:
        console.print(
            f"[yellow]{len(tags)} git tag(s) record promotions of the example's {old_name!r} "
            f"(e.g. {tags[0]}); GTO reads them as that model's history. Delete them with "
            f"`git tag -d {' '.join(tags[:3])}{' ...' if len(tags) > 3 else ''}`.[/yellow]"
        )
    console.print("\n[bold]Next[/bold]")
    console.print("  git diff --cached        # review what init changed (all of it is staged)")
    console.print(f"  git commit -m 'Start {answers.name} on {the_plan.placement.raw}'")
    if answers.remote is not None:
        console.print(
            "  dvc push                 # fill the remote; its credentials go in .dvc/config.local"
            f" (dvc remote modify --local {settings.REMOTE_NAME} <option> <value>), never in git"
        )
        plugin = {"s3": "dvc_s3", "gs": "dvc_gs", "azure": "dvc_azure"}.get(answers.remote.scheme)
        if plugin and importlib.util.find_spec(plugin) is None:
            console.print(
                f"  [yellow]dvc push to {answers.remote.scheme}:// needs the "
                f"{plugin.replace('_', '-')} package: add it to pyproject.toml and "
                "run `make lock`[/yellow]"
            )
    elif the_plan.placement.dvc:
        console.print(
            f"  [yellow]{the_plan.placement.raw} is versioned by DVC but no remote is set: CI "
            "cannot fetch it until you add one (init --remote ...) and `dvc push`[/yellow]"
        )
    if answers.owners is not None and settings.PLACEHOLDER_OWNER in answers.owners:
        console.print(
            f"  [yellow]{settings.CODEOWNERS} still names the placeholder "
            f"{settings.PLACEHOLDER_OWNER}, so GitHub requires no review: "
            "init --owners @your-org/your-team[/yellow]"
        )
    if answers.tracking_uri:
        console.print(
            "  credentials of the tracking server: MLFLOW_TRACKING_USERNAME/PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) in your shell and as CI secrets, never in params.yaml"
        )


def run(
    root: Path,
    options: Options,
    console: Console,
    asker: Asker | None = None,
    assume_yes: bool = False,
) -> Plan | None:
    """Run init in `root`; return the plan applied, or None when there was nothing to change."""
    check_repository(root)
    current = load_params(root / "params.yaml")
    answers = collect_answers(root, Path.cwd(), options, current, Ask(asker), console)
    the_plan = make_plan(root, current, answers, options.track)
    if the_plan.empty:
        console.print("Nothing to change: the project already uses these answers.")
        return None
    console.print("\n[bold]init will[/bold]")
    for line in the_plan.describe():
        console.print(f"  • {line}")
    if asker is not None and not assume_yes and not asker.confirm("Apply these changes?", True):
        console.print("Nothing changed.")
        return None
    journal = Journal(root, relative(answers.source, root))
    try:
        apply(root, the_plan, journal, console)
        if options.run_pipeline:
            console.print("\n[bold]dvc repro[/bold] (the pipeline on the new data)")
            run_dvc(root, "repro", quiet=False)
            if the_plan.data_changed and options.calibrate_gates:
                for line in calibrate_gates(root):
                    console.print(f"  • params.yaml {line} (from this first run)")
        git.git(root, "add", "-A")
    except BaseException:
        console.print("[red]init failed: undoing its changes[/red]")
        journal.undo()
        raise
    _next_steps(console, root, the_plan, answers, current.registry.model_name)
    return the_plan
