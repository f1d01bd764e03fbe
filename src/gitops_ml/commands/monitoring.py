"""Drift monitoring: simulated and fetched batches, and the checks.

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
def simulate(
    rows: Annotated[int, typer.Option(help="Number of rows to generate.")],
    output: Annotated[Path, typer.Option(help="Where to write the batch (.csv or .parquet).")],
    seed: Annotated[int, typer.Option(help="Seed of the resampling and of every change.")] = 0,
    drift: Annotated[
        str,
        typer.Option(
            help="Changes to apply, e.g. 'tenure:shift=12,contract:new=Quarterly,"
            "total_charges:missing=0.3'. Operations: shift=N, scale=N, missing=SHARE, "
            "new=LABEL (or LABEL@SHARE), freq=LABEL@SHARE (docs/monitoring.md)."
        ),
    ] = "",
    raw: Annotated[
        Path | None,
        typer.Option(
            help="Table to resample; default: the rows of data.raw that `prepare` holds out "
            "for testing (never seen in training)."
        ),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Write a batch shaped like the raw data: resampled rows plus controlled drift."""
    from gitops_ml.monitoring import simulate as sim

    source, where = sim.source_rows(read_params(params), raw)
    changes = sim.run(source, where, output, rows, seed, drift)
    applied = ", ".join(str(c) for c in changes) or "no drift"
    typer.echo(f"simulated {rows} rows from {where} ({applied}) → {output}")


@app.command()
def monitor(
    current: Annotated[Path, typer.Option(help="The batch to check (.csv or .parquet).")],
    out: Annotated[Path, typer.Option(help="Directory for monitor.json, .md and .html.")],
    reference: Annotated[
        Path, typer.Option(help="Reference data: a split written by `prepare`.")
    ] = Path("data/prepared/train.parquet"),
    schema: Annotated[
        Path, typer.Option(help="schema.json written by `prepare` beside the reference.")
    ] = Path("data/prepared/schema.json"),
    model: Annotated[
        str,
        typer.Option(
            help="Model scoring both batches: a .skops file, an MLflow URI "
            "(models:/NAME@champion, runs:/ID/model) or 'none' to skip prediction checks."
        ),
    ] = "models/model.skops",
    reference_metrics: Annotated[
        Path | None,
        typer.Option(
            help="Metrics of the model on held-out data, compared when the batch has labels; "
            "default: a registry version's own (as registered), else eval/metrics.json.",
            show_default=False,
        ),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit with code 3 when drift is detected (errors exit 1).")
    ] = False,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Compare a batch of current data with the training reference: drift, quality, performance.

    Thresholds come from the `monitor` section of params.yaml; docs/monitoring.md explains
    the report.
    """
    from gitops_ml.monitoring import monitor as stage

    settings = read_params(params)
    report = stage.run(
        current,
        out,
        settings,
        reference=reference,
        schema_path=schema,
        model=model,
        reference_metrics=reference_metrics,
    )
    verdict = "drift detected" if report.drift_detected else "no drift"
    typer.echo(f"{verdict}: {len(report.findings)} finding(s) → {out / 'monitor.html'}")
    for finding in report.findings:
        typer.echo(f"  - {finding.message}")
    if fail_on_drift and report.drift_detected:
        raise typer.Exit(stage.DRIFT_EXIT_CODE)


@app.command("fetch-batch")
def fetch_batch(
    source: Annotated[
        str, typer.Option(help="A .csv or .parquet path, http(s) URL or object-store URI (s3://).")
    ],
    out_dir: Annotated[Path, typer.Option(help="Where a downloaded batch is written.")] = Path(
        "reports/monitor"
    ),
) -> None:
    """Get a batch of current data to monitor; print its local path (and nothing else)."""
    from gitops_ml.monitoring.fetch import fetch as get

    typer.echo(get(source, out_dir))
