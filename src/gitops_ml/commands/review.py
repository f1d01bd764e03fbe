"""The pull-request report, and packing CI's reproduction of a pull request for its judge.

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
    out: Annotated[Path, typer.Option(help="Directory for report.md, report.json and any PNGs.")],
    base: Annotated[
        str | None,
        typer.Option(
            help="Git revision to compare with; default: the merge base with origin's default "
            "branch (origin/HEAD), else origin/main, else main."
        ),
    ] = None,
    head: Annotated[
        str,
        typer.Option(
            help="The commit judged: its committed dvc.lock and eval/ are checked and it is "
            "named in the report (in a pull request, its head)."
        ),
    ] = "HEAD",
    branch_dir: Annotated[
        Path | None,
        typer.Option(
            help="Judge a reproduction packed by `pack-reproduction` (CI's) instead of this "
            "workspace; its files are read as data, nothing in it runs."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when the report fails: the gate, stale or uncommitted results, "
            "uncommitted changes.",
        ),
    ] = False,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="Re-score the model as the judge does (always done with --branch-dir): load "
            "it through the strict loader, recompute the metrics, check eval/predictions.csv.",
        ),
    ] = False,
    figures: Annotated[
        bool | None,
        typer.Option(
            "--figures/--no-figures",
            help="Draw the base and branch curves as PNG beside the report (roc, prc, "
            "calibration); default: when judging (--branch-dir) or in CI. report.md shows them "
            "as Mermaid charts either way.",
            show_default=False,
        ),
    ] = None,
    eval_dir: Annotated[
        Path, typer.Option("--eval", help="Directory written by `evaluate`.")
    ] = Path("eval"),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Compare this workspace (or a packed reproduction) with a base revision: metrics,
    params, data, curves, and the base's gate."""
    from gitops_ml.infra import git
    from gitops_ml.review import reproducibility

    # `dvc status` (about 0.4 s) starts before the report's libraries load, and runs meanwhile.
    root = git.top_level(Path.cwd()) if branch_dir is None else None
    status = reproducibility.start_dvc_status(root) if root is not None else None
    try:
        from gitops_ml.review import report as stage

        settings = read_params(params)
        result = stage.run(
            out,
            settings,
            base_rev=base,
            head_rev=head,
            branch_dir=branch_dir,
            eval_dir=eval_dir,
            params_path=params,
            rescore=rescore,
            figures=figures,
            started_status=status,
        )
    finally:
        reproducibility.stop_dvc_status(status)
    verdict = "passed" if result.passed else "FAILED"
    typer.echo(f"{verdict}: {result.reason}")
    typer.echo(f"report → {out / 'report.md'}")
    if check and not result.passed:
        raise typer.Exit(code=1)


@app.command("pack-reproduction")
def pack_reproduction(
    out: Annotated[Path, typer.Option(help="Directory to write the reproduction to (emptied).")],
    pull_request: Annotated[
        int | None, typer.Option(help="The pull request's number, recorded for the judge.")
    ] = None,
    eval_dir: Annotated[
        Path, typer.Option("--eval", help="Directory written by `evaluate`.")
    ] = Path("eval"),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Pack what `dvc repro` produced for `report --branch-dir`: params, dvc.lock, eval/, the
    model, the test split, the training split's row keys and `dvc status`."""
    from gitops_ml.review import reproduction

    reproduction.pack(
        Path.cwd(),
        out,
        params=params.as_posix(),
        eval_dir=eval_dir.as_posix(),
        pull_request=pull_request,
    )
    typer.echo(f"reproduction → {out}")
