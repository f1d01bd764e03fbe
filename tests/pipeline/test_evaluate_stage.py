"""The evaluate stage's three commands: each in its own process with only its own libraries,
together what one command did before (metrics, figures, the MLflow run), and each refusing bad
input with one message and nothing logged or half-written."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitops_ml.core.errors import UserError
from gitops_ml.core.schema import FeatureSchema
from gitops_ml.infra import figures, lineage, tracking
from gitops_ml.infra.files import md5
from gitops_ml.pipeline.track import first_rows

from ..conftest import run
from ..support import crafted
from ..support.serving import Trained
from .conftest import Cli

# Runs `gitops-ml ARGS` as the installed command does, then says which heavy libraries the
# process loaded.
WATCHED = ("sklearn", "matplotlib", "mlflow")
LOADED = f"""
import json, sys
from gitops_ml.cli import main
sys.argv = ["gitops-ml", *sys.argv[1:]]
try:
    main()
finally:
    print(json.dumps({{name: name in sys.modules for name in {WATCHED!r}}}))
"""
EVALUATE = ["evaluate", "--prepared", "data/prepared", "--model", "models/model.skops"]
TRACK = ["track", "--prepared", "data/prepared", "--model", "models/model.skops", "--eval", "eval"]


@pytest.fixture
def project(trained: Trained, tmp_path: Path) -> Path:
    """A copy of the session's trained model and prepared data, with its params.yaml."""
    root = tmp_path / "project"
    shutil.copytree(trained.root, root)
    params = trained.params.model_dump(mode="json", by_alias=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


def _loaded(project: Path, env: dict[str, str], *args: str) -> dict[str, bool]:
    done = run([sys.executable, "-c", LOADED, *args], project, env)
    loaded: dict[str, bool] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_each_command_loads_only_its_own_libraries_and_together_they_log_the_run(
    project: Path, tool_env: dict[str, str], trained: Trained
) -> None:
    """evaluate scores without MLflow or matplotlib, plot draws without scikit-learn or MLflow,
    track logs without scikit-learn or matplotlib; the run holds the metrics evaluate wrote, the
    figures plot drew and the model file; each command records its cost when asked."""
    timings = project / "eval" / "timings.json"
    env = {
        **tool_env,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "GITOPS_ML_TIMINGS": str(timings),
    }
    off = dict.fromkeys(WATCHED, False)
    assert _loaded(project, env, *EVALUATE, "--out", "eval") == {**off, "sklearn": True}
    assert _loaded(project, env, "plot", "--eval", "eval") == {**off, "matplotlib": True}
    assert _loaded(project, env, *TRACK) == {**off, "mlflow": True}

    pngs = sorted(p.name for p in (project / "eval" / "figures").iterdir())
    assert pngs == sorted(f"{name}.png" for name in figures.NAMES)
    metrics = json.loads((project / "eval" / "metrics.json").read_text())
    client = tracking.client(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(trained.params.mlflow.experiment)
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.data.metrics == metrics
    assert logged.data.tags[lineage.MODEL_MD5] == md5(project / "models" / "model.skops")
    shown = sorted(a.path for a in client.list_artifacts(logged.info.run_id, "figures"))
    assert shown == [f"figures/{name}" for name in pngs]
    recorded = json.loads(timings.read_text())
    assert sorted(recorded) == ["evaluate", "plot", "track"]
    for cost in recorded.values():
        assert cost["wall_seconds"] > 0
        assert cost["peak_memory_mb"] > 0


@pytest.fixture
def command(cli: Cli, monkeypatch: pytest.MonkeyPatch, project: Path) -> Cli:
    """`gitops-ml ARGS` in-process, in the project, tracking to its own SQLite store."""
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return cli


def _refused(code: int, err: str, *fragments: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


@pytest.fixture
def evaluated(command: Cli, project: Path) -> Path:
    """The project's eval/ as `evaluate` and `plot` leave it."""
    assert command(*EVALUATE, "--out", "eval") == (0, "")
    assert command("plot", "--eval", "eval") == (0, "")
    return project / "eval"


def test_plot_names_missing_or_malformed_plot_data_and_draws_nothing(
    command: Cli, project: Path
) -> None:
    """Without evaluate's plot data, or with points lacking their fields, plot names the file
    (and the command that writes it) and writes no figure."""
    _refused(
        *command("plot", "--eval", "eval"), "eval/plots/roc.json: not found", "gitops-ml evaluate"
    )
    assert not (project / "eval" / "figures").exists()
    plots = project / "eval" / "plots"
    plots.mkdir(parents=True)
    for name in figures.NAMES:
        (plots / f"{name}.json").write_text("[]")
    (plots / "prc.json").write_text('{"recall": 1}')
    _refused(*command("plot", "--eval", "eval"), "eval/plots/prc.json: expected a list of points")
    (plots / "prc.json").write_text("[]")
    (plots / "importance.json").write_text('[{"feature": "x"}]')  # no importance, no std
    _refused(*command("plot", "--eval", "eval"), "plot data is not as `gitops-ml evaluate` writes")
    assert not (project / "eval" / "figures").exists()


def _runs(project: Path) -> int:
    if not (project / "mlflow.db").exists():
        return 0
    client = tracking.client(f"sqlite:///{project / 'mlflow.db'}")
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


def test_track_refuses_bad_input_before_logging_anything(
    command: Cli, project: Path, evaluated: Path
) -> None:
    """A crafted model file, a metric that is not a number, an absent metrics file or figure:
    each refused by name, and no run is logged."""
    model = project / "models" / "model.skops"
    real = model.read_bytes()
    model.write_bytes(crafted.standalone(project / "marker"))
    _refused(*command(*TRACK), "models/model.skops: refusing to load", "runstring")
    assert not (project / "marker").exists()
    model.write_bytes(real)

    metrics = evaluated / "metrics.json"
    good = metrics.read_text()
    metrics.write_text(json.dumps({**json.loads(good), "roc_auc": "high"}))
    _refused(*command(*TRACK), "eval/metrics.json: metric 'roc_auc' is 'high'", "finite number")
    metrics.write_text(json.dumps({**json.loads(good), "brier": float("nan")}))
    _refused(*command(*TRACK), "metric 'brier' is nan")
    metrics.unlink()
    _refused(*command(*TRACK), "eval/metrics.json: not found", "gitops-ml evaluate")
    metrics.write_text(good)

    (evaluated / "figures" / "calibration.png").unlink()
    _refused(*command(*TRACK), "no calibration.png", "gitops-ml plot")
    assert _runs(project) == 0

    assert command("plot", "--eval", "eval") == (0, "")
    assert command(*TRACK)[0] == 0
    assert _runs(project) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--prepared", "nowhere", "--model", "models/other.skops"],
        [*EVALUATE[:2], "nowhere", *EVALUATE[3:], "--out", "eval"],
        [*TRACK[:2], "nowhere", *TRACK[3:]],
    ],
    ids=["train", "evaluate", "track"],
)
def test_a_stage_before_prepare_names_the_missing_schema(
    command: Cli, project: Path, args: list[str]
) -> None:
    """Run before `prepare` wrote the split (or pointed elsewhere), a stage says so."""
    _refused(*command(*args), "nowhere/schema.json: not found", "gitops-ml prepare")
    assert not (project / "models" / "other.skops").exists()
    assert not (project / "eval").exists()


def test_the_signature_s_rows_are_read_as_pandas_reads_the_split(project: Path) -> None:
    """`track` reads only the first rows of the test split for the signature: the same values
    and dtypes as pandas reading the whole file; an empty split gives its columns, a missing one
    names the file."""
    prepared = project / "data" / "prepared"
    columns = list(FeatureSchema.read(prepared / "schema.json").features)
    whole = pd.read_parquet(prepared / "test.parquet", columns=columns)
    pd.testing.assert_frame_equal(first_rows(prepared / "test.parquet", columns), whole.head(5))
    whole.head(0).to_parquet(project / "empty.parquet", index=False)
    empty = first_rows(project / "empty.parquet", columns)
    assert (list(empty.columns), len(empty)) == (columns, 0)
    with pytest.raises(UserError, match=r"nowhere\.parquet: not found; `gitops-ml prepare`"):
        first_rows(project / "nowhere.parquet", columns)
