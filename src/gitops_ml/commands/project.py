"""The project itself: `init` to adapt the template, `docs` to write its reference pages.

Imports of the areas stay inside the commands, so `gitops-ml --help` loads none of them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, cast

import typer

from gitops_ml.commands.app import (
    app,
)
from gitops_ml.core.errors import UserError


@app.command()
def init(
    data: Annotated[
        str | None, typer.Option(help="Dataset, CSV or Parquet (outside the repo: copied in).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The binary target column.")] = None,
    positive_label: Annotated[
        str | None, typer.Option(help="The target's value that marks the positive class.")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Row identifier, never a feature ('none': no id).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Project name: the MLflow experiment.")] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Registered model name (letters, digits, '-', '_').")
    ] = None,
    remote: Annotated[
        str | None,
        typer.Option(help="DVC remote: none, a local path, s3://..., gs://... or azure://..."),
    ] = None,
    s3_endpoint: Annotated[
        str | None, typer.Option(help="Endpoint URL of an S3-compatible store (MinIO, ...).")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI, no credentials ('none': mlflow.db in the repo)."),
    ] = None,
    owners: Annotated[
        str | None,
        typer.Option(
            help="Code owners for .github/CODEOWNERS: GitHub @user or @org/team, space-separated."
        ),
    ] = None,
    remove_example_data: Annotated[
        bool | None,
        typer.Option(
            "--remove-example-data/--keep-example-data",
            help="Delete the example dataset (default: keep; interactive: ask).",
        ),
    ] = None,
    track_data: Annotated[
        str,
        typer.Option(help="Version the dataset with git, dvc, or auto (dvc above 2 MB)."),
    ] = "auto",
    calibrate_gates: Annotated[
        bool,
        typer.Option(
            "--calibrate-gates/--keep-gates",
            help="Set gates.floors from the first run on the new data.",
        ),
    ] = True,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Ask nothing: flags, else current values.")
    ] = False,
) -> None:
    """Start your own project: point the template at your data, names, remote and tracking."""
    from rich.console import Console

    from gitops_ml.template import init as stage
    from gitops_ml.template.questions import Options, RichAsker
    from gitops_ml.template.settings import Track

    if track_data not in ("auto", "git", "dvc"):
        raise UserError(f"--track-data {track_data}: expected auto, git or dvc")
    console = Console(highlight=False, soft_wrap=True)
    options = Options(
        data=data,
        target=target,
        positive_label=positive_label,
        id_column=id_column,
        name=name,
        model_name=model_name,
        remote=remote,
        s3_endpoint=s3_endpoint,
        tracking_uri=tracking_uri,
        owners=owners,
        remove_example_data=remove_example_data,
        track=cast("Track", track_data),
        calibrate_gates=calibrate_gates,
    )
    interactive = not yes and sys.stdin.isatty()
    asker = RichAsker(console) if interactive else None
    stage.run(Path.cwd(), options, console, asker)


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Directory of cli.md and params.md.")] = Path("docs"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when a page is out of date.")
    ] = False,
) -> None:
    """Regenerate the CLI and params.yaml reference pages from the code."""
    from gitops_ml.template import reference_docs

    pages = reference_docs.pages(app)
    if check:
        outdated = reference_docs.stale(out, pages)
        for path in outdated:
            typer.echo(f"{path}: out of date; run `make docs` and commit it", err=True)
        if outdated:
            raise typer.Exit(code=1)
        return
    for path in reference_docs.write(out, pages):
        typer.echo(f"wrote {path}")
