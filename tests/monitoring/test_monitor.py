"""Monitoring: few false alarms on clean batches, every drift kind named, clear errors, reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitops_ml.core.errors import DataError, UserError
from gitops_ml.core.metrics import score
from gitops_ml.core.params import LogisticRegressionParams, Params, TrainParams
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.core.table import Table, clean
from gitops_ml.infra.model_files import save_model, trusted_names
from gitops_ml.infra.model_source import load_estimator
from gitops_ml.monitoring import assessment, monitor, rendering, simulate
from gitops_ml.monitoring.results import MonitorReport
from gitops_ml.pipeline import prepare as prepare_stage
from gitops_ml.pipeline.train import fit

from ..conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
BATCH_ROWS = 1000


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, params: Params) -> Path:
    """A project-like directory: prepared splits, a quick model and its held-out metrics."""
    root = tmp_path_factory.mktemp("monitored")
    schema = prepare_stage.run(ROOT / params.data.raw, root / "prepared", params.data, params.seed)
    train = pd.read_parquet(root / "prepared" / "train.parquet")
    test = pd.read_parquet(root / "prepared" / "test.parquet")
    # Logistic regression: fitted in a second, and a real model of the same pipeline shape.
    settings = TrainParams(model=LogisticRegressionParams(type="logistic_regression"))
    pipeline = fit(train, schema, settings, params.seed)
    save_model(pipeline, root / "model.skops")
    proba = pipeline.predict_proba(test[schema.features])[:, 1]
    metrics = score(test[schema.target].to_numpy(), proba, params.evaluate.threshold)
    (root / "metrics.json").write_text(json.dumps(metrics))
    return root


@pytest.fixture(scope="module")
def schema(prepared: Path) -> FeatureSchema:
    """The schema written by prepare."""
    return FeatureSchema.read(prepared / "prepared" / "schema.json")


@pytest.fixture(scope="module")
def reference(prepared: Path) -> pd.DataFrame:
    """The training split: the monitor's default reference."""
    return pd.read_parquet(prepared / "prepared" / "train.parquet")


@pytest.fixture(scope="module")
def source(raw_frame: pd.DataFrame) -> pd.DataFrame:
    """The raw data as the simulator resamples it."""
    return clean(raw_frame)


@pytest.fixture(scope="module")
def model(prepared: Path) -> object:
    """The quick model, loaded as monitor loads a .skops file."""
    return load_estimator(str(prepared / "model.skops"))


def make_batch(source: pd.DataFrame, seed: int, spec: str = "", rows: int = BATCH_ROWS) -> Table:
    changes = simulate.parse_spec(spec)
    simulate.check_spec(changes, source, "raw")
    frame = next(simulate.simulate(source, rows, seed, changes))
    return Table(frame=frame, path=Path("batch.csv"))


def assess(
    batch: Table,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    model: object,
    prepared: Path,
) -> MonitorReport:
    current = monitor.validate_current(batch, schema)
    return assessment.assess(
        reference,
        current,
        schema,
        params.monitor,
        model=model,  # type: ignore[arg-type]
        threshold=params.evaluate.threshold,
        reference_metrics=monitor.read_metrics(prepared / "metrics.json"),
    )


def test_clean_batches_rarely_alarm(
    source: pd.DataFrame,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    model: object,
    prepared: Path,
) -> None:
    """Twenty clean resampled batches raise at most one false alarm."""
    alarms = {}
    for seed in range(20):
        report = assess(make_batch(source, seed), reference, schema, params, model, prepared)
        assert report.prediction is not None
        assert report.performance is not None
        if report.drift_detected:
            alarms[seed] = [f.message for f in report.findings]
    assert len(alarms) <= 1, alarms


@pytest.mark.example_data  # the example's columns
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tenure:shift=12", {("drift", "tenure")}),
        ("monthly_charges:scale=1.5", {("drift", "monthly_charges")}),
        ("payment_method:freq=Mailed check@0.6", {("drift", "payment_method")}),
        ("contract:new=Quarterly@0.2", {("drift", "contract"), ("new_category", "contract")}),
        ("total_charges:missing=0.3", {("missing", "total_charges")}),
        ("tenure:scale=1.3", {("out_of_range", "tenure")}),
        ("contract:freq=Month-to-month@0.95", {("prediction_drift", "prediction")}),
    ],
)
def test_each_drift_kind_is_detected_and_named(
    spec: str,
    expected: set[tuple[str, str]],
    source: pd.DataFrame,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    model: object,
    prepared: Path,
) -> None:
    """Each kind of simulated drift raises a finding of that kind about that feature."""
    report = assess(make_batch(source, 100, spec), reference, schema, params, model, prepared)
    found = {(f.kind, f.subject) for f in report.findings}
    assert expected <= found, found
    assert report.drift_detected
    changes = simulate.parse_spec(spec)
    # A value change blames only its column (and possibly the model's scores); a frequency
    # change resamples whole rows, so features correlated with that column move too.
    if all(c.operation != "freq" for c in changes):
        named = {c.column for c in changes}
        assert {subject for _, subject in found} <= named | {"prediction"}, found
    messages = " ".join(f.message for f in report.findings)
    for _, subject in expected:
        assert subject in messages


@pytest.mark.example_data  # the example's columns
def test_performance_drop_is_found(
    source: pd.DataFrame,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    model: object,
    prepared: Path,
) -> None:
    """Labels that no longer follow the features show as a performance finding."""
    batch = make_batch(source, 7)
    rng = np.random.default_rng(0)
    shuffled = batch.frame.assign(churn=rng.permutation(batch.frame["churn"].to_numpy()))
    report = assess(Table(shuffled, batch.path), reference, schema, params, model, prepared)
    assert report.performance is not None
    assert report.performance.degraded
    assert report.performance.current < 0.6
    assert ("performance", "roc_auc") in {(f.kind, f.subject) for f in report.findings}


@pytest.mark.example_data  # the example's columns
def test_batch_without_labels_is_monitored(
    source: pd.DataFrame,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    model: object,
    prepared: Path,
) -> None:
    """A batch without the target column is checked for drift; performance is skipped."""
    batch = make_batch(source, 3, "tenure:shift=12")
    unlabelled = Table(batch.frame.drop(columns=["churn"]), batch.path)
    report = assess(unlabelled, reference, schema, params, model, prepared)
    assert report.performance is None
    assert "no labels" in " ".join(report.notes)
    assert ("drift", "tenure") in {(f.kind, f.subject) for f in report.findings}


# ---- bad current data: the pipeline's own errors -----------------------------------------------


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gitops-ml", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _monitor_args(prepared: Path, current: Path, out: Path, model: str = "") -> list[str]:
    return [
        "monitor",
        "--current",
        str(current),
        "--out",
        str(out),
        "--reference",
        str(prepared / "prepared" / "train.parquet"),
        "--schema",
        str(prepared / "prepared" / "schema.json"),
        "--model",
        model or str(prepared / "model.skops"),
        "--reference-metrics",
        str(prepared / "metrics.json"),
        "--params",
        str(ROOT / "params.yaml"),
    ]


@pytest.mark.example_data  # the example's columns
def test_bad_batch_gets_the_pipelines_error(
    tmp_path: Path, raw_frame: pd.DataFrame, prepared: Path, tool_env: dict[str, str]
) -> None:
    """A batch with text in a numeric column fails as `prepare` fails: same message, exit 1."""
    bad = raw_frame.head(200).astype({"tenure": "object"})
    bad.loc[3, "tenure"] = "twelve"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    prepare = _cli(["prepare", "--raw", str(path), "--out", str(tmp_path / "p")], ROOT, tool_env)
    checked = _cli(_monitor_args(prepared, path, tmp_path / "out"), ROOT, tool_env)
    assert prepare.returncode == checked.returncode == 1
    assert checked.stderr.strip() == prepare.stderr.strip()
    assert f"error: {path}: the data does not match the expected schema" in checked.stderr
    assert "column 'tenure' at line 5" in checked.stderr
    assert "expected numbers" in checked.stderr
    assert "twelve" in checked.stderr
    assert "Traceback" not in checked.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.example_data  # the example's columns
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["tenure"]), r"column\(s\) \['tenure'\] of the model's features"),
        (
            lambda f: f.assign(churn=["Maybe"] * len(f)),
            r"column 'churn' at line 2, line 3, .*: expected only \['Yes', 'No'\]",
        ),
        (lambda f: f.iloc[0:0], r"the file has a header but no data rows"),
    ],
)
def test_bad_batches_are_refused(
    mutate: object, message: str, tmp_path: Path, raw_frame: pd.DataFrame, schema: FeatureSchema
) -> None:
    """Missing feature columns, unknown labels and empty files are refused by name."""
    path = tmp_path / "bad.csv"
    mutate(raw_frame.head(50)).to_csv(path, index=False)  # type: ignore[operator]
    with pytest.raises(DataError, match=message):
        monitor.read_current(path, schema)


# ---- the command and its reports ------------------------------------------------------------


@pytest.fixture(scope="module")
def drifted_report(
    tmp_path_factory: pytest.TempPathFactory, prepared: Path, tool_env: dict[str, str]
) -> Path:
    """A report written by the command for a batch drifted in three ways."""
    root = tmp_path_factory.mktemp("drifted")
    batch = root / "batch.parquet"
    spec = "tenure:shift=12,contract:new=Quarterly,total_charges:missing=0.3"
    source = clean(pd.read_csv(ROOT / "data/raw/telco_churn.csv"))
    simulate.run(source, "the example", batch, 1500, 5, spec)
    done = _cli([*_monitor_args(prepared, batch, root / "out"), "--fail-on-drift"], ROOT, tool_env)
    assert done.returncode == monitor.DRIFT_EXIT_CODE, done.stderr
    assert "drift detected" in done.stdout
    return root / "out"


@pytest.mark.example_data  # the example's columns
def test_command_writes_json_markdown_and_html(drifted_report: Path) -> None:
    """monitor.json says drift_detected and names the drifted features; md and html agree."""
    report = json.loads((drifted_report / "monitor.json").read_text())
    assert report["drift_detected"] is True
    assert {"tenure", "contract"} <= set(report["summary"]["features_drifted"])
    kinds = {(f["kind"], f["subject"]) for f in report["findings"]}
    assert {
        ("drift", "tenure"),
        ("new_category", "contract"),
        ("missing", "total_charges"),
    } <= kinds
    assert report["thresholds"]["alpha"] == 0.01
    contract = next(f for f in report["features"] if f["feature"] == "contract")
    assert contract["new_categories"].keys() == {"Quarterly"}
    md = (drifted_report / "monitor.md").read_text()
    assert "**Drift detected" in md
    assert "total_charges: missing rate 0.1% in the reference" in md
    html = (drifted_report / "monitor.html").read_text()
    # Self-contained: no script, no external resource, one chart per flagged feature + scores.
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert html.count("<svg") == 4


@pytest.mark.example_data  # the example's columns
def test_clean_batch_exits_zero(
    tmp_path: Path, prepared: Path, source: pd.DataFrame, tool_env: dict[str, str]
) -> None:
    """A clean batch without labels exits 0 even with --fail-on-drift, and says why no metrics."""
    path = tmp_path / "clean.csv"
    make_batch(source, 11).frame.drop(columns=["churn"]).to_csv(path, index=False)
    done = _cli(
        [*_monitor_args(prepared, path, tmp_path / "out"), "--fail-on-drift"], ROOT, tool_env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert report["drift_detected"] is False
    assert report["performance"] is None
    assert report["prediction"]["drifted"] is False
    assert "The batch has no labels" in (tmp_path / "out" / "monitor.md").read_text()


def test_model_from_the_registry(
    tmp_path: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--model accepts models:/NAME@ALIAS and scores exactly as the file it was logged from."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    local = load_estimator(str(prepared / "model.skops"))
    assert local is not None
    # Set, not inherited: another test of this process may have pointed MLflow elsewhere.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # Likewise: an experiment made active by another test lives in another store.
    mlflow.set_experiment("monitoring")
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            local,
            name="model",
            registered_model_name="churn",
            serialization_format="skops",
            skops_trusted_types=trusted_names(),
            pip_requirements=["scikit-learn"],
        )
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", "1")
    loaded = load_estimator("models:/churn@champion")
    assert loaded is not None
    x = pd.read_parquet(prepared / "prepared" / "test.parquet").head(50)
    cols = local.feature_names_in_
    np.testing.assert_allclose(loaded.predict_proba(x[cols]), local.predict_proba(x[cols]))
    with pytest.raises(UserError, match="models:/churn@nobody: no such model in the registry"):
        load_estimator("models:/churn@nobody")


@pytest.mark.example_data  # the example's columns and labels
def test_a_registry_version_is_judged_by_its_own_threshold_and_metrics(
    tmp_path: Path,
    prepared: Path,
    raw_frame: pd.DataFrame,
    params: Params,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Monitoring models:/NAME@ALIAS scores at the threshold the version was registered with
    and compares with its registered metrics (its run's when it carries none), not with the
    workspace's eval/metrics.json; an explicit --reference-metrics still wins."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("monitoring")
    with mlflow.start_run():
        mlflow.log_metric("roc_auc", 0.77)
        mlflow.sklearn.log_model(
            load_estimator(str(prepared / "model.skops")),
            name="model",
            registered_model_name="churn",
            serialization_format="skops",
            skops_trusted_types=trusted_names(),
            pip_requirements=["scikit-learn"],
        )
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("churn", "champion", "1")
    batch = tmp_path / "batch.csv"
    raw_frame.head(800).to_csv(batch, index=False)
    workspace_metrics = prepared / "metrics.json"

    def monitored(model: str, metrics: Path | None = None) -> MonitorReport:
        return monitor.run(
            batch,
            tmp_path / "out",
            params,
            reference=prepared / "prepared" / "train.parquet",
            schema_path=prepared / "prepared" / "schema.json",
            model=model,
            reference_metrics=metrics,
        )

    as_file = monitored(str(prepared / "model.skops"), workspace_metrics)
    assert as_file.sources["threshold"] == f"{params.evaluate.threshold:g} (evaluate.threshold)"
    own = json.loads(workspace_metrics.read_text())
    assert as_file.performance is not None
    assert as_file.performance.reference == pytest.approx(own["roc_auc"])

    # A version that carries nothing of its own: its run's metrics, evaluate.threshold.
    legacy = monitored("models:/churn@champion")
    assert legacy.performance is not None
    assert legacy.performance.reference == 0.77
    assert legacy.sources["reference metrics"] == "models:/churn@champion, as registered"
    assert legacy.performance.metrics == as_file.performance.metrics

    client.set_model_version_tag("churn", "1", "gitops_ml.threshold", "0.3")
    client.set_model_version_tag("churn", "1", "metrics.roc_auc", "0.99")
    champion = monitored("models:/churn@champion")
    assert champion.sources["threshold"] == "0.3 (models:/churn@champion, as registered)"
    assert champion.performance is not None
    assert champion.performance.reference == 0.99
    assert champion.performance.worse_by == pytest.approx(0.99 - champion.performance.current)
    # The same scores, labelled at the lower threshold: more positives found.
    mine, theirs = champion.performance.metrics, as_file.performance.metrics
    assert mine["roc_auc"] == theirs["roc_auc"]
    assert mine["recall"] > theirs["recall"]
    # A file named on the command line wins over what the version carries.
    named = monitored("models:/churn@champion", workspace_metrics)
    assert named.performance is not None
    assert named.performance.reference == pytest.approx(own["roc_auc"])
    assert named.sources["reference metrics"] == str(workspace_metrics)


# ---- the HTML in a real browser -----------------------------------------------------------------

_PROBE = """<script>
window.__errors = [];
window.onerror = function (m) { window.__errors.push(String(m)); };
window.addEventListener('load', function () {
  var drawn = 0;
  document.querySelectorAll('svg.chart').forEach(function (s) {
    var box = s.getBoundingClientRect();
    if (box.width > 100 && box.height > 50 && s.querySelectorAll('rect').length > 4) drawn++;
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__errors, drawn: drawn});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)
@pytest.mark.example_data  # the example's columns
def test_html_renders_in_chromium(drifted_report: Path, tmp_path: Path) -> None:
    """Headless Chromium lays out every chart of the report, with no script errors."""
    import re

    page = (drifted_report / "monitor.html").read_text()
    # The report forbids scripts by CSP; this probe copy drops that policy to measure the page.
    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    probed = probed.replace("</head>", _PROBE + "</head>", 1)
    path = tmp_path / "probed.html"
    path.write_text(probed)
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout)
    assert found, done.stdout[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe == {"errors": [], "drawn": 4}
    assert done.stdout.count("<svg") == 4


def test_monitor_params_are_validated(tmp_path: Path) -> None:
    """params.yaml's monitor section refuses an unknown metric and a bad level, by key path."""
    import yaml

    from gitops_ml.core.errors import ParamsError
    from gitops_ml.core.params import load_params

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["monitor"].update({"performance_metric": "auc", "alpha": 2})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert "monitor.performance_metric: unknown metric 'auc'; expected one of ['roc_auc'" in str(
        err.value
    )
    assert "monitor.alpha: Input should be less than 1 (got 2)" in str(err.value)
    del raw["monitor"]
    path.write_text(yaml.safe_dump(raw))
    assert load_params(path).monitor.alpha == 0.01  # the section is optional


@pytest.mark.example_data  # the example's columns
def test_reports_escape_what_the_data_holds(
    source: pd.DataFrame,
    reference: pd.DataFrame,
    schema: FeatureSchema,
    params: Params,
    prepared: Path,
) -> None:
    """A category holding markup is shown as text in the HTML, and `|` cannot break a table."""

    spec = "contract:new=<img src=x onerror=alert(1)>|x@0.3"
    report = assess(make_batch(source, 9, spec), reference, schema, params, None, prepared)
    assert ("new_category", "contract") in {(f.kind, f.subject) for f in report.findings}
    page = rendering.html(report)
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;|x" in page
    assert page.count("<svg") == 1  # contract's chart; no model, so no score chart
    md = rendering.markdown(report)
    assert "'&lt;img src=x onerror=alert(1)&gt;|x'" in md
    assert "<img" not in md
    assert "No model given" in md
