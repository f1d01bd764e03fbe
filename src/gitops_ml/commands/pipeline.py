"""The pipeline's stage commands (prepare, train, evaluate, tune) and pushing their results.

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
def prepare(
    raw: Annotated[Path, typer.Option(help="Raw CSV or Parquet file.")],
    out: Annotated[Path, typer.Option(help="Directory for train/test Parquet and schema.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Read, validate, clean and split the raw data."""
    from gitops_ml.pipeline import prepare as stage

    settings = read_params(params)
    schema = stage.run(raw, out, settings.data, settings.seed)
    typer.echo(
        f"prepared {raw}: {len(schema.numeric)} numeric, "
        f"{len(schema.categorical)} categorical features → {out}"
    )


@app.command()
def train(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Where to save the fitted model (.skops).")],
    params: ParamsOption = Path("params.yaml"),
    tuned: Annotated[
        Path | None,
        typer.Option(help="Hyperparameters written by `tune`, laid over train.model."),
    ] = None,
) -> None:
    """Fit the model pipeline and save it (evaluate logs it to MLflow with its metrics)."""
    from gitops_ml.pipeline import train as stage

    settings = read_params(params)
    if tuned is not None:
        from gitops_ml.pipeline.tune import with_tuned

        settings = with_tuned(settings, tuned)
    stage.run(prepared, model, settings)
    typer.echo(f"trained {settings.train.model.type} → {model}")


@app.command()
def evaluate(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Model file written by `train`.")],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, plots/ and figures/.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Score the model on the test split: metrics, curves, importance, figures; log the model
    and its metrics to MLflow."""
    from gitops_ml.pipeline import evaluate as stage

    settings = read_params(params)
    result = stage.run(prepared, model, out, settings)
    m = result.metrics
    typer.echo(
        f"roc_auc {m['roc_auc']:.4f} ± {m['roc_auc_se']:.4f}, "
        f"average_precision {m['average_precision']:.4f} → {out / 'metrics.json'}"
    )


@app.command()
def tune(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    out: Annotated[Path, typer.Option(help="Directory for params.yaml (best) and search.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Search train's hyperparameters on a Dask cluster (DASK_SCHEDULER_ADDRESS or local)."""
    from gitops_ml.pipeline import tune as stage

    settings = read_params(params)
    found = stage.run(prepared, out, settings)
    best = ", ".join(f"{k}={v}" for k, v in sorted(found.best.items()))
    typer.echo(
        f"searched {found.candidates} candidates on {found.workers} Dask workers: "
        f"best {best} ({found.best_score:.4f}) → {out}"
    )


@app.command("push-run-cache")
def push_run_cache(
    remote: Annotated[
        str | None, typer.Option(help="DVC remote name (default: the default remote).")
    ] = None,
) -> None:
    """Push outputs and run-cache to the DVC remote, git-tracked metrics and plots included."""
    from gitops_ml.infra import run_cache

    pushed = run_cache.push(Path.cwd(), remote)
    typer.echo(
        f"pushed {pushed.dvc_pushed} run-cache entries and cached files, "
        f"{pushed.git_tracked_pushed} git-tracked output files"
    )
