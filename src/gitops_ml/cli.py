"""The `gitops-ml` command: parses arguments, loads params once, calls an area's entry point.

Imports of the areas stay inside the commands, so `gitops-ml --help` loads none of them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from gitops_ml.core.errors import UserError

if TYPE_CHECKING:
    from gitops_ml.core.params import Params

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
    from gitops_ml.core.params import load_params

    return load_params(path)


@app.command()
def prepare(
    raw: Annotated[Path, typer.Option(help="Raw CSV or Parquet file.")],
    out: Annotated[Path, typer.Option(help="Directory for train/test Parquet and schema.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Read, validate, clean and split the raw data."""
    from gitops_ml.pipeline import prepare as stage

    settings = _load(params)
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
    """Fit the model pipeline and log it to MLflow."""
    from gitops_ml.pipeline import train as stage

    settings = _load(params)
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
    """Score the model on the test split: metrics, curves, importance, figures."""
    from gitops_ml.pipeline import evaluate as stage

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
    settings = _load(params)
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

    settings = _load(params)
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
            "GitHub releases (with `gh`) when the store lost it; a store that holds it is kept."
        ),
    ] = False,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Show the champion, the challenger and the history of the registered model."""
    from gitops_ml.release import status

    typer.echo(status.show(Path.cwd(), _load(params), as_json=as_json, rebuild=rebuild), nl=False)


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

    settings = _load(params)
    result = stage.run(out, settings, base_rev=base, eval_dir=eval_dir, params_path=params)
    verdict = "passed" if result.passed else "FAILED"
    typer.echo(f"{verdict}: {result.reason}")
    typer.echo(f"report → {out / 'report.md'}")
    if check and not result.passed:
        raise typer.Exit(code=1)


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A .skops file or MLflow model URI (default: models:/<registry.model_name>@champion).",
    ),
]
SchemaOption = Annotated[
    Path,
    typer.Option(help="schema.json written by `prepare` (read for a local .skops model only)."),
]


def _model_uri(model: str | None, settings: Params) -> str:
    return model or f"models:/{settings.registry.model_name}@champion"


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

    settings = _load(params)
    stage.run(
        _model_uri(model, settings),
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

    settings = _load(params)
    done = stage.run(
        _model_uri(model, settings),
        input,
        output,
        threshold=settings.evaluate.threshold,
        threshold_override=settings.serve.threshold,
        schema_path=schema,
        chunk_rows=chunk_rows,
        id_column=id_column,
        progress=progress,
    )
    typer.echo(f"scored {done.rows} rows with {done.model_name} {done.model_version} → {output}")


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
        Path | None, typer.Option(help="Table to resample; default: data.raw of params.yaml.")
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Write a batch shaped like the raw data: resampled rows plus controlled drift."""
    from gitops_ml.monitoring import simulate as sim

    source = raw if raw is not None else Path(_load(params).data.raw)
    changes = sim.run(source, output, rows, seed, drift)
    applied = ", ".join(str(c) for c in changes) or "no drift"
    typer.echo(f"simulated {rows} rows of {source} ({applied}) → {output}")


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
        Path, typer.Option(help="Metrics of the model on held-out data (from `evaluate`).")
    ] = Path("eval/metrics.json"),
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

    settings = _load(params)
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


def _export_tracking_uri() -> None:
    # MLflow resolves models:/ URIs through its own registry URI, which follows only the
    # environment: export params.yaml's tracking.uri so every MLflow call in this process (and
    # its children) sees the one URI that tracking_uri() reports. An empty variable (an unset
    # CI secret) counts as unset.
    import os

    from gitops_ml.infra.tracking import FROM_PARAMS_ENV, configured_uri, forbid_pickle

    forbid_pickle()  # no command loads a pickled model, through MLflow or otherwise
    # A progress bar per downloaded model would bury the one line a command prints.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        uri = configured_uri(Path("params.yaml"))
        if uri:
            os.environ["MLFLOW_TRACKING_URI"] = uri
            os.environ[FROM_PARAMS_ENV] = "1"


@app.command()
def tune(
    prepared: Annotated[Path, typer.Option(help="Directory written by `prepare`.")],
    out: Annotated[Path, typer.Option(help="Directory for params.yaml (best) and search.json.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Search train's hyperparameters on a Dask cluster (DASK_SCHEDULER_ADDRESS or local)."""
    from gitops_ml.pipeline import tune as stage

    settings = _load(params)
    found = stage.run(prepared, out, settings)
    best = ", ".join(f"{k}={v}" for k, v in sorted(found.best.items()))
    typer.echo(
        f"searched {found.candidates} candidates on {found.workers} Dask workers: "
        f"best {best} ({found.best_score:.4f}) → {out}"
    )


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


class _Stderr(logging.Handler):
    """The package's log lines on stderr: warnings as `warning: ...`, the rest as they are."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            typer.secho(f"warning: {record.getMessage()}", fg=typer.colors.YELLOW, err=True)
        else:
            typer.echo(record.getMessage(), err=True)


def _show_logs() -> None:
    logger = logging.getLogger("gitops_ml")
    if not any(isinstance(handler, _Stderr) for handler in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)


def main() -> None:
    """Entry point: run the app, turning user errors into one message and exit code 1."""
    try:
        _show_logs()
        _export_tracking_uri()
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
