"""The pull-request report.

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


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Directory for report.md, report.json and PNGs.")],
    base: Annotated[
        str | None,
        typer.Option(
            help="Git revision to compare with; default: merge base with origin/main, else main."
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when the gate fails or dvc.lock is stale.")
    ] = False,
    eval_dir: Annotated[
        Path, typer.Option("--eval", help="Directory written by `evaluate`.")
    ] = Path("eval"),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Compare this workspace with a base revision: metrics, params, data, curves, gate."""
    from gitops_ml.review import report as stage

    settings = read_params(params)
    result = stage.run(out, settings, base_rev=base, eval_dir=eval_dir, params_path=params)
    verdict = "passed" if result.passed else "FAILED"
    typer.echo(f"{verdict}: {result.reason}")
    typer.echo(f"report → {out / 'report.md'}")
    if check and not result.passed:
        raise typer.Exit(code=1)
