"""`gitops-ml init`: its guesses, checks and edits, its refusals, and its undo on failure.

The whole flow on a real project (pipeline, report, promotion, serving, monitoring) is in
tests/test_init_selftest.py; these tests run in-process and skip the pipeline.
"""

from __future__ import annotations

import difflib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console

from gitops_ml import init, init_plan, tracking
from gitops_ml.data import Table
from gitops_ml.errors import DataError, ParamsError, UserError
from gitops_ml.params import DataParams

from .conftest import ROOT, copy_project, run


def _frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tier = rng.choice(["basic", "plus"], rows)
    score = rng.normal(size=rows)
    churned = (score + (tier == "basic")) > 0.8
    return pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(rows)],
            "has_phone": rng.choice(["Yes", "No"], rows),
            "tier": tier,
            "score": score,
            "status": np.where(churned, "churned", "stayed"),
        }
    )


# ---------------------------------------------------------------- guesses and data checks


def test_guesses_name_the_target_the_rarer_label_and_the_id() -> None:
    """A column named like a target wins over other two-valued ones; ids are unique text."""
    frame = _frame()
    assert init_plan.binary_columns(frame) == ["has_phone", "tier", "status"]
    assert init_plan.guess_target(frame) == "status"
    assert init_plan.guess_target(frame.rename(columns={"status": "s"})) == "s"
    assert init_plan.guess_positive({"stayed": 150, "churned": 50}) == "churned"
    assert init_plan.guess_positive({"No": 5, "Yes": 20}) == "Yes"
    assert init_plan.guess_id_column(frame, "status") == "account_id"
    assert init_plan.guess_id_column(frame.drop(columns="account_id"), "status") is None
    assert init_plan.model_name_for("Acme Churn 2.0") == "acme-churn-2-0-model"


def test_summary_is_what_prepare_infers(tmp_path: Path) -> None:
    """Feature kinds, id and class balance come from the prepare stage's own inference."""
    table = Table(_frame(), tmp_path / "accounts.parquet")
    params = DataParams(
        raw="data/raw/accounts.parquet",
        target="status",
        positive_label="churned",
        id_column="account_id",
    )
    summary = init_plan.summarize(table, params, seed=1)
    assert summary.schema.numeric == ("score",)
    assert summary.schema.categorical == ("has_phone", "tier")
    assert summary.schema.id_column == "account_id"
    assert list(summary.counts) == ["churned", "stayed"]
    assert sum(summary.counts.values()) == 200
    assert summary.positive_rate == summary.counts["churned"] / 200


def test_a_wrong_target_names_the_file_the_column_and_what_is_there(tmp_path: Path) -> None:
    """A missing column, a column of three values, and an absent label: one clear error each."""
    table = Table(_frame(), tmp_path / "accounts.parquet")
    with pytest.raises(DataError) as missing:
        init_plan.check_target(table, "outcome")
    assert str(missing.value).startswith(f"{tmp_path / 'accounts.parquet'}: no column 'outcome'")
    assert "'score'" in str(missing.value)
    assert "two-valued columns: ['has_phone', 'tier', 'status']" in str(missing.value)
    three = Table(_frame().assign(status=["a", "b", "c", "a"] * 50), table.path)
    with pytest.raises(DataError, match=r"column 'status' holds 3 distinct values \['a', "):
        init_plan.check_target(three, "status")
    counts = init_plan.check_target(table, "status")
    with pytest.raises(DataError) as label:
        init_plan.check_positive(table, "status", counts, "Yes")
    assert "column 'status': positive label 'Yes' does not occur" in str(label.value)
    assert "'churned'" in str(label.value)
    assert "'stayed'" in str(label.value)


def test_data_outside_the_repo_is_copied_and_big_data_goes_to_dvc(tmp_path: Path) -> None:
    """A file outside the repo lands in data/raw/; above 2 MB (or when asked) DVC versions it."""
    root = tmp_path / "repo"
    outside = tmp_path / "loans.parquet"
    small, big = 1000, init_plan.GIT_MAX_BYTES + 1
    assert init_plan.place_data(outside, root, small, "auto", False) == init_plan.Placement(
        raw="data/raw/loans.parquet", copy_from=outside, dvc=False
    )
    assert init_plan.place_data(outside, root, big, "auto", False).dvc is True
    assert init_plan.place_data(outside, root, big, "git", False).dvc is False
    assert init_plan.place_data(outside, root, small, "git", True).dvc is True  # already in DVC
    inside = root / "data" / "loans.csv"
    assert init_plan.place_data(inside, root, small, "dvc", False) == init_plan.Placement(
        raw="data/loans.csv", copy_from=None, dvc=True
    )
    with pytest.raises(UserError, match=r"cannot live in \.dvc/"):
        init_plan.place_data(root / ".dvc" / "x.csv", root, small, "auto", False)


# ---------------------------------------------------------------- remote and tracking URI


def test_remotes_are_checked_and_never_hold_credentials(tmp_path: Path) -> None:
    """Local paths become absolute and must be outside the repo; URLs must carry no secret."""
    root = tmp_path / "repo"
    root.mkdir()
    assert init_plan.parse_remote("none", None, root, tmp_path) is None
    local = init_plan.parse_remote("store", None, root, tmp_path)
    assert local == init_plan.Remote(url=str(tmp_path / "store"))
    assert local.scheme == "local"
    s3 = init_plan.parse_remote("s3://bucket/dvc/", "http://127.0.0.1:9000", root, tmp_path)
    assert s3 == init_plan.Remote("s3://bucket/dvc", "http://127.0.0.1:9000")
    assert init_plan.parse_remote("gs://b/p", None, root, tmp_path) == init_plan.Remote("gs://b/p")
    refused = {
        "repo/cache": "outside the repository",
        "s3://KEY:SECRET@bucket/p": "credentials do not belong in .dvc/config",
        "azure://container/p?sig=abc": "credentials do not belong",
        "https://example.com/dvc": "unsupported scheme 'https'",
        "s3://": "no bucket",
    }
    for text, message in refused.items():
        with pytest.raises(UserError, match=message):
            init_plan.parse_remote(text, None, root, tmp_path)
    with pytest.raises(UserError, match="s3:// remotes only"):
        init_plan.parse_remote("gs://b/p", "http://127.0.0.1:9000", root, tmp_path)
    with pytest.raises(UserError, match="credentials"):
        init_plan.parse_remote("s3://b/p", "http://user:pw@127.0.0.1:9000", root, tmp_path)


def test_owners_are_checked_and_put_on_every_rule_of_codeowners() -> None:
    """GitHub's owner forms pass once each; every rule gets the owners, comments stay as is."""
    assert init_plan.parse_owners("@acme/ml-team, @jo-doe  ops@acme.io @acme/ml-team") == [
        "@acme/ml-team",
        "@jo-doe",
        "ops@acme.io",
    ]
    for bad in ("acme", "@-jo", "@acme/", "jo@localhost", "@jo doe"):
        with pytest.raises(UserError, match="expected a GitHub @user, @org/team"):
            init_plan.parse_owners(bad)
    with pytest.raises(UserError, match="at least one owner"):
        init_plan.parse_owners(" , ")
    text = "# who reviews\n\n/params.yaml   @old/team  @x\n# CI\n/.github/      @old/team\n"
    assert init_plan.codeowners_owners(text) == ["@old/team", "@x"]
    new = init_plan.codeowners_with(text, ["@acme/ml", "@jo"])
    assert new == (
        "# who reviews\n\n/params.yaml   @acme/ml @jo\n# CI\n/.github/      @acme/ml @jo\n"
    )
    shipped = (ROOT / init_plan.CODEOWNERS).read_text(encoding="utf-8")
    replaced = init_plan.codeowners_with(shipped, ["@acme/ml"])
    assert init_plan.codeowners_owners(replaced) == ["@acme/ml"]
    comments = [line for line in shipped.splitlines() if line.startswith("#") or not line]
    assert [line for line in replaced.splitlines() if line.startswith("#") or not line] == comments


def test_tracking_uri_in_params_refuses_credentials() -> None:
    """params.yaml may name a tracking server, never a password or token for it."""
    text = (ROOT / "params.yaml").read_text()
    ok = text.replace("uri: null", "uri: https://mlflow.example.com")
    assert init_plan.validate_params_text(ok, "p").tracking.uri == "https://mlflow.example.com"
    for uri in (
        "https://me:hunter2@mlflow.example.com",
        "https://mlflow.example.com?token=hunter2",
    ):
        with pytest.raises(ParamsError, match=r"tracking\.uri: holds (a password|the query)") as e:
            init_plan.validate_params_text(text.replace("uri: null", f"uri: {uri}"), "p")
        assert "hunter2" not in str(e.value)  # the secret is never repeated


def test_tracking_uri_is_the_variable_then_params_then_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLFLOW_TRACKING_URI wins; else params.yaml's tracking.uri; else mlflow.db here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # an unset CI secret
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    assert tracking.tracking_uri() == "http://elsewhere:5000"


def test_the_cli_exports_the_params_uri_for_mlflow_and_marks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's registry follows only the environment; a user's own variable is left alone."""
    from gitops_ml import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv(tracking.FROM_PARAMS_ENV, raising=False)
    cli._export_tracking_uri()
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert os.environ[tracking.FROM_PARAMS_ENV] == "1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mine:5000")
    monkeypatch.delenv(tracking.FROM_PARAMS_ENV)
    cli._export_tracking_uri()
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mine:5000"
    assert tracking.FROM_PARAMS_ENV not in os.environ


# ---------------------------------------------------------------- edits


@pytest.mark.example_data  # init from the template as shipped
def test_params_edits_keep_comments_and_touch_only_changed_lines() -> None:
    """Only the edited values' lines differ; ambiguous labels are quoted for YAML 1.1."""
    text = (ROOT / "params.yaml").read_text()
    edits = init_plan.Edits(init_plan.load_doc(text))
    edits.set("data.target", "status")
    edits.set("data.positive_label", "no")
    edits.set("data.id_column", None)  # unchanged: not recorded
    edits.set("gates.floors.roc_auc", 0.7)
    out = init_plan.dump_doc(edits.doc)
    changed = [
        line
        for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-  target: churn",
        '-  positive_label: "Yes"',
        "+  target: status",
        '+  positive_label: "no"',
        "-    roc_auc: 0.80",
        "+    roc_auc: 0.7",
    ]
    assert yaml.safe_load(out)["data"]["positive_label"] == "no"
    assert edits.lines == [
        "data.target: 'churn' → 'status'",
        "data.positive_label: 'Yes' → 'no'",
        "gates.floors.roc_auc: 0.8 → 0.7",
    ]


@pytest.mark.example_data  # init from the template as shipped
def test_artifacts_entry_follows_the_model_name() -> None:
    """The GTO artifact is renamed in place; its comments stay."""
    text = (ROOT / "artifacts.yaml").read_text()
    out = init_plan.artifacts_text(text, "churn-classifier", "loans", "Loan default classifier.")
    assert out.splitlines()[:2] == text.splitlines()[:2]
    entry = yaml.safe_load(out)
    assert list(entry) == ["loans"]
    assert entry["loans"]["path"] == "models/model.skops"
    assert entry["loans"]["description"] == "Loan default classifier."


def test_floors_sit_under_the_first_run_by_the_allowed_drop() -> None:
    """Higher-is-better floors go down by max_drop, log_loss's ceiling up; rounded outward."""
    floors = init_plan.calibrated_floors(
        {"roc_auc": 0.8, "average_precision": 0.55, "log_loss": 0.5, "f1": 0.3},
        {"roc_auc": 0.02, "log_loss": 0.03},
        {"roc_auc": 0.9137, "average_precision": 0.6209, "log_loss": 0.4112},
    )
    assert floors == {"roc_auc": 0.89, "average_precision": 0.6, "log_loss": 0.45, "f1": 0.3}


# ---------------------------------------------------------------- on a real repository


class Scripted:
    """Answers questions by their first words, and records what was asked."""

    def __init__(self, answers: dict[str, str | bool]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def _answer(self, question: str) -> str | bool | None:
        self.asked.append(question)
        return next((a for q, a in self.answers.items() if question.startswith(q)), None)

    def text(self, question: str, default: str) -> str:
        answer = self._answer(question)
        return default if answer is None else str(answer)

    def confirm(self, question: str, default: bool) -> bool:
        answer = self._answer(question)
        return default if answer is None else bool(answer)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    """A git copy of the template, shared read-only (tests that change it copy it)."""
    return copy_project(tmp_path_factory.mktemp("template"), tool_env)


@pytest.fixture
def project(
    template: Path, tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private clone of the template, as the working directory."""
    repo = tmp_path / "project"
    run(["git", "clone", "-q", str(template), str(repo)], tmp_path, tool_env)
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, tool_env[key])
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", tool_env["DVC_SITE_CACHE_DIR"])
    monkeypatch.chdir(repo)
    return repo


def _status(repo: Path, env: dict[str, str]) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], repo, env).stdout


def _console() -> Console:
    return Console(file=io.StringIO(), width=200)


@pytest.mark.example_data  # init from the template as shipped
def test_it_refuses_uncommitted_work_and_changes_nothing(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """An edited or untracked file stops init before it reads the data or writes anything."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    (project / "notes.txt").write_text("mine\n")
    params = (project / "params.yaml").read_bytes()
    options = init.Options(data=str(data), target="status", positive_label="churned")
    with pytest.raises(UserError, match=r"uncommitted changes \(notes\.txt\); commit or stash"):
        init.run(project, options, _console())
    assert _status(project, tool_env) == "?? notes.txt\n"
    assert (project / "params.yaml").read_bytes() == params
    (project / "notes.txt").unlink()
    example = project / "data/raw/telco_churn.csv"
    with example.open("a") as fh:
        fh.write("an edit of a tracked dataset is the user's work too\n")
    options = init.Options(data=str(example), target="churn", positive_label="Yes")
    with pytest.raises(UserError, match=r"uncommitted changes \(data/raw/telco_churn\.csv\)"):
        init.run(project, options, _console())


def test_a_dataset_placed_in_data_raw_is_not_uncommitted_work(
    project: Path, tool_env: dict[str, str]
) -> None:
    """The new dataset itself may be untracked; a wrong label is then the error reported."""
    data = project / "data" / "raw" / "accounts.csv"
    _frame().to_csv(data, index=False)
    options = init.Options(data=str(data), target="status", positive_label="Yes")
    with pytest.raises(DataError) as error:
        init.run(project, options, _console())
    assert f"{data}: column 'status': positive label 'Yes' does not occur" in str(error.value)
    assert _status(project, tool_env) == "?? data/raw/accounts.csv\n"


@pytest.mark.example_data  # init from the template as shipped
def test_without_flags_it_asks_for_the_target_it_cannot_know(project: Path, tmp_path: Path) -> None:
    """Non-interactive, a dataset without the current target column needs --target."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    with pytest.raises(UserError) as error:
        init.run(project, init.Options(data=str(data)), _console())
    assert "the current target 'churn' (data.target) is not a column" in str(error.value)
    assert "pass --target (two-valued columns: ['has_phone', 'tier', 'status'])" in str(error.value)


@pytest.mark.example_data  # init from the template as shipped
def test_interactive_answers_are_applied_and_a_rerun_changes_nothing(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """Guessed defaults are offered; the answers land in params, artifacts and .dvc/config."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    asker = Scripted(
        {
            "Dataset": str(data),
            "Project name": "accounts",
            "Registered model name": "accounts-model",
            "DVC remote": str(tmp_path / "remote"),
            "Remove the example data": True,
        }
    )
    run(["git", "tag", "churn-classifier@v1.0.0"], project, tool_env)  # an example promotion
    options = init.Options(run_pipeline=False)
    console = _console()
    done = init.run(project, options, console, asker)
    assert done is not None
    assert [q.split(" ")[0] for q in asker.asked] == [
        "Dataset",
        "Target",
        "Positive",
        "Id",
        "Project",
        "Registered",
        "DVC",
        "MLflow",
        "Code",
        "Remove",
        "Apply",
    ]
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "churned (positive)" in shown
    assert "id (not a feature) │ account_id" in shown
    assert "1 git tag(s) record promotions of the example's 'churn-classifier'" in shown
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["target"] == "status"  # guessed by name, accepted
    assert params["data"]["positive_label"] == "churned"  # the rarer class, accepted
    assert params["data"]["id_column"] == "account_id"
    assert params["registry"]["model_name"] == "accounts-model"
    assert params["tracking"]["uri"] is None
    assert list(yaml.safe_load((project / "artifacts.yaml").read_text())) == ["accounts-model"]
    assert f"url = {tmp_path / 'remote'}" in (project / ".dvc/config").read_text()
    assert not (project / "data/raw/telco_churn.csv").exists()
    assert "A  data/raw/accounts.parquet" in _status(project, tool_env)
    run(["git", "commit", "-qm", "Start accounts"], project, tool_env)

    again = Scripted({"Dataset": str(data)})
    assert init.run(project, options, _console(), again) is None
    assert "Apply these changes?" not in again.asked
    assert _status(project, tool_env) == ""


@pytest.mark.example_data  # init from the template as shipped
def test_data_versioned_by_dvc_gets_a_dvc_file_and_stays_out_of_git(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """With --track-data dvc, `dvc add` versions the copy; git holds only its .dvc file."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    options = init.Options(
        data=str(data), target="status", positive_label="churned", track="dvc", run_pipeline=False
    )
    console = _console()
    init.run(project, options, console)
    status = _status(project, tool_env).splitlines()
    assert "A  data/raw/accounts.parquet.dvc" in status
    assert not any(line.endswith("data/raw/accounts.parquet") for line in status)
    assert "/accounts.parquet" in (project / "data/raw/.gitignore").read_text()
    assert "no remote is set: CI cannot fetch it" in console.file.getvalue()  # type: ignore[attr-defined]


def test_an_s3_remote_is_written_without_credentials_and_none_removes_it(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """`dvc remote add -d` and `modify endpointurl` write .dvc/config; `none` removes the remote."""
    options = init.Options(
        remote="s3://models-bucket/accounts",
        s3_endpoint="http://127.0.0.1:9000",
        run_pipeline=False,
    )
    console = _console()
    init.run(project, options, console)
    config = (project / ".dvc/config").read_text()
    assert "remote = storage" in config
    assert "url = s3://models-bucket/accounts" in config
    assert "endpointurl = http://127.0.0.1:9000" in config
    assert "dvc remote modify --local storage" in console.file.getvalue()  # type: ignore[attr-defined]
    assert _status(project, tool_env) == "M  .dvc/config\n"
    assert "dvc-s3" not in console.file.getvalue()  # type: ignore[attr-defined]  # installed
    run(["git", "commit", "-qm", "Remote"], project, tool_env)
    gs = _console()
    init.run(project, init.Options(remote="gs://models/accounts", run_pipeline=False), gs)
    assert "needs the dvc-gs package" in gs.file.getvalue()  # type: ignore[attr-defined]
    run(["git", "commit", "-qm", "Remote on GCS"], project, tool_env)
    init.run(project, init.Options(remote="none", run_pipeline=False), _console())
    assert "storage" not in (project / ".dvc/config").read_text()


def test_owners_replace_the_placeholder_in_codeowners_and_a_rerun_changes_nothing(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """While the placeholder owner stands init says so; --owners names the team on every rule."""
    path = project / init_plan.CODEOWNERS
    path.write_text(
        init_plan.codeowners_with(path.read_text(), [init_plan.PLACEHOLDER_OWNER]),
        encoding="utf-8",
    )
    run(["git", "commit", "-qam", "Template owners", "--allow-empty"], project, tool_env)
    console = _console()
    init.run(project, init.Options(remote=str(tmp_path / "remote"), run_pipeline=False), console)
    assert "still names the placeholder @your-org/ml-owners" in console.file.getvalue()  # type: ignore[attr-defined]
    run(["git", "commit", "-qm", "Remote"], project, tool_env)

    with pytest.raises(UserError, match="--owners 'acme': expected a GitHub @user"):
        init.run(project, init.Options(owners="@acme/ml-team acme"), _console())
    assert _status(project, tool_env) == ""

    owned = _console()
    options = init.Options(owners="@acme/ml-team @jo-doe", run_pipeline=False)
    init.run(project, options, owned)
    shown = owned.file.getvalue()  # type: ignore[attr-defined]
    assert ".github/CODEOWNERS: review by @acme/ml-team @jo-doe" in shown
    assert "placeholder" not in shown
    assert _status(project, tool_env) == "M  .github/CODEOWNERS\n"
    text = path.read_text()
    assert init_plan.codeowners_owners(text) == ["@acme/ml-team", "@jo-doe"]
    assert "/params.yaml        @acme/ml-team @jo-doe\n" in text
    run(["git", "commit", "-qm", "Owners"], project, tool_env)
    assert init.run(project, options, _console()) is None
    assert _status(project, tool_env) == ""


def test_a_tracking_server_that_does_not_answer_is_refused_before_writing() -> None:
    """Nothing listening at the URI: one error naming it, before any file is written."""
    from .serving_support import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match=f"--tracking-uri {uri}: nothing answers at 127.0.0.1"):
        init._check_tracking(uri)
    init._check_tracking("sqlite:///mlflow.db")  # a local store needs no server


@pytest.mark.example_data  # init from the template as shipped
def test_a_failing_pipeline_run_undoes_everything(
    project: Path, tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When `dvc repro` fails, the repository and the moved-aside MLflow store are restored."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    (project / "mlflow.db").write_bytes(b"the example's runs")  # git-ignored local state
    params = (project / "params.yaml").read_bytes()
    real = init._dvc

    def failing(root: Path, *args: str, quiet: bool = True) -> None:
        if args[0] == "repro":
            (root / "mlflow.db").write_bytes(b"a new store")
            raise UserError("dvc repro failed (output above)")
        real(root, *args, quiet=quiet)

    monkeypatch.setattr(init, "_dvc", failing)
    options = init.Options(
        data=str(data),
        target="status",
        positive_label="churned",
        remote=str(tmp_path / "remote"),
        owners="@acme/ml-team",
        remove_example_data=True,
    )
    codeowners = (project / init_plan.CODEOWNERS).read_bytes()
    with pytest.raises(UserError, match="dvc repro failed"):
        init.run(project, options, _console())
    assert _status(project, tool_env) == ""
    assert (project / "params.yaml").read_bytes() == params
    assert (project / "data/raw/telco_churn.csv").is_file()
    assert not (project / "data/raw/accounts.parquet").exists()
    assert "remote" not in (project / ".dvc/config").read_text()
    assert (project / init_plan.CODEOWNERS).read_bytes() == codeowners
    assert (project / "mlflow.db").read_bytes() == b"the example's runs"
