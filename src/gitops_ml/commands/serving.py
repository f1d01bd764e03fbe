"""Online and batch scoring.

Imports of the areas stay inside the commands, so `gitops-ml --help` loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitops_ml.commands.app import (
    ModelOption,
    ParamsOption,
    SchemaOption,
    app,
    model_uri,
    read_params,
)


@app.command()
def serve(
    model: ModelOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    schema: SchemaOption = Path("data/prepared/schema.json"),
    metrics: Annotated[
        Path, typer.Option(help="metrics.json reported by /metadata for a local model.")
    ] = Path("eval/metrics.json"),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Serve the model over HTTP: /predict, /health, /ready, /metadata, /metrics."""
    from gitops_ml.serving import app as stage

    settings = read_params(params)
    stage.run(
        model_uri(model, settings),
        host=host,
        port=port,
        settings=settings.serve,
        threshold=settings.evaluate.threshold,
        schema_path=schema,
        metrics_path=metrics,
    )


@app.command()
def predict(
    input: Annotated[Path, typer.Option("--input", help="CSV or Parquet file of records.")],
    output: Annotated[Path, typer.Option(help="Where to write scores (.csv or .parquet).")],
    model: ModelOption = None,
    schema: SchemaOption = Path("data/prepared/schema.json"),
    chunk_rows: Annotated[int, typer.Option(help="Rows scored at a time.", min=1)] = 50_000,
    id_column: Annotated[
        str | None,
        typer.Option(help="Column copied to the output (default: the schema's id)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Score a CSV or Parquet file in chunks; keeps the id column; writes the output atomically."""
    from gitops_ml.serving import batch as stage

    settings = read_params(params)
    done = stage.run(
        model_uri(model, settings),
        input,
        output,
        threshold=settings.evaluate.threshold,
        threshold_override=settings.serve.threshold,
        schema_path=schema,
        chunk_rows=chunk_rows,
        id_column=id_column,
        progress=progress,
        engine=settings.serve.engine,
    )
    typer.echo(
        f"scored {done.rows} rows with {done.model_name} {done.model_version} "
        f"({done.engine}) → {output}"
    )
