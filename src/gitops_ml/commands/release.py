"""Registering, promoting and rolling back models, and the registry's state.

Imports of the areas stay inside the commands, so `gitops-ml --help` loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_ml.commands.app import (
    ParamsOption,
    app,
    read_params,
)
from gitops_ml.core.errors import UserError


@app.command()
def promote(
    model: Annotated[Path, typer.Option(help="Model file built at this commit.")] = Path(
        "models/model.skops"
    ),
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")] = Path(
        "data/prepared"
    ),
    lock: Annotated[Path, typer.Option(help="dvc.lock of this commit.")] = Path("dvc.lock"),
    requirements: Annotated[
        Path, typer.Option(help="Dependency lock whose hash is recorded.")
    ] = Path("requirements/requirements.txt"),
    out: Annotated[Path, typer.Option(help="Directory for decision.json/.md, model_card.md.")] = (
        Path("reports/promotion")
    ),
    rule_from: Annotated[
        str | None,
        typer.Option(
            help="Commit whose params.yaml sets the promotion bar: main before the push being "
            "promoted (promote.yml passes the push's `before`); default: the champion's commit."
        ),
    ] = None,
    default_branch: Annotated[
        str | None,
        typer.Option(
            help="Branch a promoted commit must be on; default: origin's HEAD, else main."
        ),
    ] = None,
    force_off_main: Annotated[
        bool,
        typer.Option(
            "--force-off-main",
            help="Promote a commit that is not on the default branch (needs --reason).",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(help="Why a commit off the default branch is promoted (recorded)."),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Register this commit's model; make it champion if it clears the bar set on main."""
    from gitops_ml.infra.tracking import describe_uri
    from gitops_ml.release import promotion

    if force_off_main and not (reason or "").strip():
        raise UserError("--force-off-main: give the reason with --reason (it is recorded)")
    if reason is not None and not force_off_main:
        raise UserError("--reason: only used with --force-off-main")
    settings = read_params(params)
    typer.echo(f"registry: {describe_uri()}")
    paths = promotion.Paths(
        repo=Path.cwd(),
        model=model,
        prepared=prepared,
        lock=lock,
        requirements=requirements,
        out=out,
        params=params,
    )
    options = promotion.Options(
        rule_from=rule_from,
        branch=default_branch,
        force_reason=reason.strip() if force_off_main and reason else None,
    )
    outcome = promotion.promote(paths, settings, options)
    verdict = "promoted to champion" if outcome.decision.promote else "not promoted"
    again = " (rerun: nothing new recorded)" if outcome.rerun else ""
    typer.echo(
        f"{settings.registry.model_name} v{outcome.version}: {verdict}{again}: "
        f"{outcome.decision.reason} → {out / 'decision.json'}"
    )
    if outcome.bar:
        typer.echo(f"bar: params.yaml at {outcome.bar['commit'][:12]} ({outcome.bar['source']})")
    for tag in outcome.gto_tags:
        typer.echo(f"tag {tag}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why the champion is rolled back (recorded).")],
    to: Annotated[
        str | None, typer.Option(help="Version to make champion; default: the previous one.")
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Point `champion` back at the previous (or given) version."""
    from gitops_ml.infra.tracking import describe_uri
    from gitops_ml.release import rollback as stage

    settings = read_params(params)
    typer.echo(f"registry: {describe_uri()}")
    done = stage.rollback(Path.cwd(), settings, to, reason)
    typer.echo(
        f"{settings.registry.model_name}: champion v{done.from_version} → v{done.to_version} "
        f"(tag {done.gto_tag}): {done.reason}"
    )


@app.command()
def registry(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not markdown.")] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="First rebuild the registry from origin's GTO tags and the model files of the "
            "GitHub releases (with `gh`) when the store lost it or lags the tags; a store that "
            "holds every version the tags record is kept as it is."
        ),
    ] = False,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Show the champion, the challenger and the history of the registered model."""
    from gitops_ml.release import status

    typer.echo(
        status.show(Path.cwd(), read_params(params), as_json=as_json, rebuild=rebuild), nl=False
    )
