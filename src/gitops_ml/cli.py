"""The `gitops-ml` command: parses arguments, loads params once, calls a stage's run()."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitops_ml.errors import UserError

if TYPE_CHECKING:
    from gitops_ml.params import Params

app = typer.Typer(
    name="gitops-ml",
    help="Reproducible ML pipeline, pull-request reports and promotion, driven by params.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOption = Annotated[
    Path, typer.Option("--params", help="The params file.", dir_okay=False, show_default=True)
]


def _load(path: Path) -> Params:
    from gitops_ml.params import load_params

    return load_params(path)


@app.command()
def prepare(
    raw: Annotated[Path, typer.Option(help="Raw CSV or Parquet file.")],
    out: Annotated[Path, typer.Option(help="Directory for train/test Parquet and schema.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Read, validate, clean and split the raw data."""
    from gitops_ml import data

    settings = _load(params)
    schema = data.run(raw, out, settings.data, settings.seed)
    typer.echo(
        f"prepared {raw}: {len(schema.numeric)} numeric, "
        f"{len(schema.categorical)} categorical features → {out}"
    )


@app.command()
def train(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Where to save the fitted model (.skops).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Fit the model pipeline and log it to MLflow."""
    from gitops_ml import train as stage

    settings = _load(params)
    stage.run(prepared, model, settings)
    typer.echo(f"trained {settings.train.model.type} → {model}")


@app.command()
def evaluate(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Model file written by `train`.")],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, plots/ and figures/.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Score the model on the test split: metrics, curves, importance, figures."""
    from gitops_ml import evaluate as stage

    settings = _load(params)
    result = stage.run(prepared, model, out, settings)
    m = result.metrics
    typer.echo(
        f"roc_auc {m['roc_auc']:.4f} ± {m['roc_auc_se']:.4f}, "
        f"average_precision {m['average_precision']:.4f} → {out / 'metrics.json'}"
    )


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
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Register this commit's model; make it champion if it beats the current one."""
    from gitops_ml import promotion

    settings = _load(params)
    paths = promotion.Paths(
        repo=Path.cwd(),
        model=model,
        prepared=prepared,
        lock=lock,
        requirements=requirements,
        out=out,
    )
    outcome = promotion.promote(paths, settings)
    verdict = "promoted to champion" if outcome.decision.promote else "not promoted"
    again = " (rerun: nothing new recorded)" if outcome.rerun else ""
    typer.echo(
        f"{settings.registry.model_name} v{outcome.version}: {verdict}{again}: "
        f"{outcome.decision.reason} → {out / 'decision.json'}"
    )
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
    from gitops_ml import promotion

    settings = _load(params)
    done = promotion.rollback(Path.cwd(), settings, to, reason)
    typer.echo(
        f"{settings.registry.model_name}: champion v{done.from_version} → v{done.to_version} "
        f"(tag {done.gto_tag}): {done.reason}"
    )


@app.command()
def registry(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not markdown.")] = False,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Show the champion, the challenger and the history of the registered model."""
    import json
    from dataclasses import asdict

    from gitops_ml import promotion

    state = promotion.status(_load(params))
    if as_json:
        typer.echo(json.dumps(asdict(state), indent=2, sort_keys=True))
    else:
        typer.echo(promotion.status_markdown(state), nl=False)


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
    from gitops_ml import report as stage

    settings = _load(params)
    result = stage.run(out, settings, base_rev=base, eval_dir=eval_dir, params_path=params)
    verdict = "passed" if result["passed"] else "FAILED"
    typer.echo(f"{verdict}: {result['reason']}")
    typer.echo(f"report → {out / 'report.md'}")
    if check and not result["passed"]:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point: run the app, turning user errors into one message and exit code 1."""
    try:
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
