"""The pipeline's stage commands (prepare, train, evaluate with plot and track, tune) and
pushing their results.

Imports of the areas stay inside the commands, so `gitops-ml --help` loads none of them. Each
stage command records its cost where GITOPS_ML_TIMINGS says (`infra/timings.py`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gitops_ml.commands.app import (
    ParamsOption,
    app,
    read_params,
)

# When this process started, as near as the package sees it: a stage's recorded cost includes
# loading its libraries.
STARTED = time.perf_counter()


@app.command()
def prepare(
    raw: Annotated[Path, typer.Option(help="Raw CSV or Parquet file.")],
    out: Annotated[Path, typer.Option(help="Directory for train/test Parquet and schema.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Read, validate, clean and split the raw data."""
    from gitops_ml.infra.timings import recorded
    from gitops_ml.pipeline import prepare as stage

    settings = read_params(params)
    with recorded("prepare", STARTED):
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
    """Fit the model pipeline and save it (the evaluate stage's `track` logs it to MLflow)."""
    from gitops_ml.infra.timings import recorded
    from gitops_ml.pipeline import train as stage

    settings = read_params(params)
    if tuned is not None:
        from gitops_ml.pipeline.tune import with_tuned

        settings = with_tuned(settings, tuned)
    with recorded("train", STARTED):
        stage.run(prepared, model, settings)
    typer.echo(f"trained {settings.train.model.type} → {model}")


@app.command()
def evaluate(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Model file written by `train`.")],
    out: Annotated[
        Path, typer.Option(help="Directory for metrics.json, slices.json, predictions and plots/.")
    ],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Score the model on the test split: metrics with errors, slices, held-out predictions,
    curves, importance (`plot` then draws the figures, `track` logs them to MLflow)."""
    from gitops_ml.infra.timings import recorded
    from gitops_ml.pipeline import evaluate as stage

    settings = read_params(params)
    with recorded("evaluate", STARTED):
        result = stage.run(prepared, model, out, settings)
    m = result.metrics
    typer.echo(
        f"roc_auc {m['roc_auc']:.4f} ± {m['roc_auc_se']:.4f}, "
        f"average_precision {m['average_precision']:.4f} → {out / 'metrics.json'}"
    )


@app.command()
def plot(
    evaluation: Annotated[
        Path, typer.Option("--eval", help="Directory written by `evaluate`; figures/ go here.")
    ],
) -> None:
    """Draw the figures (PNG) of `evaluate`'s plot data into figures/."""
    from gitops_ml.infra.timings import recorded
    from gitops_ml.pipeline import plot as stage

    with recorded("plot", STARTED):
        drawn = stage.run(evaluation)
    typer.echo(f"drew {len(drawn)} figures → {evaluation / 'figures'}")


@app.command()
def track(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    model: Annotated[Path, typer.Option(help="Model file written by `train`.")],
    evaluation: Annotated[
        Path, typer.Option("--eval", help="Directory written by `evaluate` and `plot`.")
    ],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Log the model with the metrics of `evaluate` and the figures of `plot` to MLflow (the
    model file is checked against the allow-list and logged as it is, never loaded)."""
    from gitops_ml.infra.timings import recorded
    from gitops_ml.infra.tracking import describe_uri
    from gitops_ml.pipeline import track as stage

    settings = read_params(params)
    server = describe_uri()  # before MLflow exports the URI it resolved to the environment
    with recorded("track", STARTED):
        tracked = stage.run(prepared, model, evaluation, settings)
    typer.echo(
        f"logged {model} with {tracked.metrics} metrics and {tracked.figures} figures "
        f"to run {tracked.run_id} ({server})"
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
