"""`gitops-ml init`: its guesses, checks and edits, its refusals, and its undo on failure.

The whole flow on a real project (pipeline, report, promotion, serving, monitoring) is in
tests/test_init_selftest.py; these tests run in-process and skip the pipeline.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from gitops_ml.core.errors import DataError, UserError
from gitops_ml.template import init, questions, settings
from gitops_ml.template.questions import Options

from ..conftest import copy_project, run
from .sample import accounts as _frame


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
    options = Options(data=str(data), target="status", positive_label="churned")
    with pytest.raises(UserError, match=r"uncommitted changes \(notes\.txt\); commit or stash"):
        init.run(project, options, _console())
    assert _status(project, tool_env) == "?? notes.txt\n"
    assert (project / "params.yaml").read_bytes() == params
    (project / "notes.txt").unlink()
    example = project / "data/raw/telco_churn.csv"
    with example.open("a") as fh:
        fh.write("an edit of a tracked dataset is the user's work too\n")
    options = Options(data=str(example), target="churn", positive_label="Yes")
    with pytest.raises(UserError, match=r"uncommitted changes \(data/raw/telco_churn\.csv\)"):
        init.run(project, options, _console())


def test_a_dataset_placed_in_data_raw_is_not_uncommitted_work(
    project: Path, tool_env: dict[str, str]
) -> None:
    """The new dataset itself may be untracked; a wrong label is then the error reported."""
    data = project / "data" / "raw" / "accounts.csv"
    _frame().to_csv(data, index=False)
    options = Options(data=str(data), target="status", positive_label="Yes")
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
        init.run(project, Options(data=str(data)), _console())
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
    options = Options(run_pipeline=False)
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
    options = Options(
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
    options = Options(
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
    init.run(project, Options(remote="gs://models/accounts", run_pipeline=False), gs)
    assert "needs the dvc-gs package" in gs.file.getvalue()  # type: ignore[attr-defined]
    run(["git", "commit", "-qm", "Remote on GCS"], project, tool_env)
    init.run(project, Options(remote="none", run_pipeline=False), _console())
    assert "storage" not in (project / ".dvc/config").read_text()


def test_owners_replace_the_placeholder_in_codeowners_and_a_rerun_changes_nothing(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """While the placeholder owner stands init says so; --owners names the team on every rule."""
    path = project / settings.CODEOWNERS
    path.write_text(
        settings.codeowners_with(path.read_text(), [settings.PLACEHOLDER_OWNER]),
        encoding="utf-8",
    )
    run(["git", "commit", "-qam", "Template owners", "--allow-empty"], project, tool_env)
    console = _console()
    init.run(project, Options(remote=str(tmp_path / "remote"), run_pipeline=False), console)
    assert "still names the placeholder @your-org/ml-owners" in console.file.getvalue()  # type: ignore[attr-defined]
    run(["git", "commit", "-qm", "Remote"], project, tool_env)

    with pytest.raises(UserError, match="--owners 'acme': expected a GitHub @user"):
        init.run(project, Options(owners="@acme/ml-team acme"), _console())
    assert _status(project, tool_env) == ""

    owned = _console()
    options = Options(owners="@acme/ml-team @jo-doe", run_pipeline=False)
    init.run(project, options, owned)
    shown = owned.file.getvalue()  # type: ignore[attr-defined]
    assert ".github/CODEOWNERS: review by @acme/ml-team @jo-doe" in shown
    assert "placeholder" not in shown
    assert _status(project, tool_env) == "M  .github/CODEOWNERS\n"
    text = path.read_text()
    assert settings.codeowners_owners(text) == ["@acme/ml-team", "@jo-doe"]
    assert "/params.yaml        @acme/ml-team @jo-doe\n" in text
    run(["git", "commit", "-qm", "Owners"], project, tool_env)
    assert init.run(project, options, _console()) is None
    assert _status(project, tool_env) == ""


def test_a_tracking_server_that_does_not_answer_is_refused_before_writing() -> None:
    """Nothing listening at the URI: one error naming it, before any file is written."""
    from ..support.serving import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match=f"--tracking-uri {uri}: nothing answers at 127.0.0.1"):
        questions.check_tracking(uri)
    questions.check_tracking("sqlite:///mlflow.db")  # a local store needs no server


@pytest.mark.example_data  # init from the template as shipped
def test_a_failing_pipeline_run_undoes_everything(
    project: Path, tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When `dvc repro` fails, the repository and the moved-aside MLflow store are restored."""
    data = tmp_path / "accounts.parquet"
    _frame().to_parquet(data)
    (project / "mlflow.db").write_bytes(b"the example's runs")  # git-ignored local state
    params = (project / "params.yaml").read_bytes()
    real = init.run_dvc

    def failing(root: Path, *args: str, quiet: bool = True) -> None:
        if args[0] == "repro":
            (root / "mlflow.db").write_bytes(b"a new store")
            raise UserError("dvc repro failed (output above)")
        real(root, *args, quiet=quiet)

    monkeypatch.setattr(init, "run_dvc", failing)
    options = Options(
        data=str(data),
        target="status",
        positive_label="churned",
        remote=str(tmp_path / "remote"),
        owners="@acme/ml-team",
        remove_example_data=True,
    )
    codeowners = (project / settings.CODEOWNERS).read_bytes()
    with pytest.raises(UserError, match="dvc repro failed"):
        init.run(project, options, _console())
    assert _status(project, tool_env) == ""
    assert (project / "params.yaml").read_bytes() == params
    assert (project / "data/raw/telco_churn.csv").is_file()
    assert not (project / "data/raw/accounts.parquet").exists()
    assert "remote" not in (project / ".dvc/config").read_text()
    assert (project / settings.CODEOWNERS).read_bytes() == codeowners
    assert (project / "mlflow.db").read_bytes() == b"the example's runs"


def test_labels_are_written_quoted_as_the_file_spells_them(
    project: Path, tool_env: dict[str, str]
) -> None:
    """A true/false target: `--positive-label true` is written "true", quoted, as text; a
    free-text column prepare would refuse is left out in data.drop_columns (with --yes)."""
    data = project / "data" / "raw" / "flags-as-text.csv"
    frame = _frame().assign(status=["true" if s == "churned" else "false" for s in _frame().status])
    frame.assign(note=[f"said {i} things on the phone" for i in range(len(frame))]).to_csv(
        data, index=False
    )
    console = _console()
    options = Options(data=str(data), target="status", positive_label="true", run_pipeline=False)
    init.run(project, options, console)
    text = (project / "params.yaml").read_text()
    assert '  positive_label: "true"\n' in text
    assert yaml.safe_load(text)["data"]["positive_label"] == "true"
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "true (positive)" in shown
    assert "Left out (data.drop_columns): note" in shown
    assert yaml.safe_load(text)["data"]["drop_columns"] == ["note"]


def test_new_data_gets_slices_proposed_best_first(project: Path, tmp_path: Path) -> None:
    """On new data init proposes the categorical columns worth judging apart, and writes them
    to evaluate.slices without asking (as with --yes)."""
    data = tmp_path / "accounts.parquet"
    _frame(rows=2000).to_parquet(data)
    options = Options(data=str(data), target="status", positive_label="churned", run_pipeline=False)
    init.run(project, options, _console())
    assert yaml.safe_load((project / "params.yaml").read_text())["evaluate"]["slices"] == [
        "tier",  # its slices' churn rates differ most
        "has_phone",
    ]


def test_declined_slices_keep_only_columns_the_new_data_has(
    project: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """Declined, evaluate.slices keeps no column the new data lacks (evaluate would refuse it)."""
    params = project / "params.yaml"
    content = yaml.safe_load(params.read_text())
    content["evaluate"]["slices"] = ["contract"]
    params.write_text(yaml.safe_dump(content, sort_keys=False))
    run(["git", "commit", "-qam", "Slice by contract"], project, tool_env)
    data = tmp_path / "accounts.parquet"
    _frame(rows=2000).to_parquet(data)
    asker = Scripted({"Dataset": str(data), "Score the model apart": False, "Apply": True})
    init.run(project, Options(run_pipeline=False), _console(), asker)
    asked = "Score the model apart on each value of tier, has_phone"
    assert any(question.startswith(asked) for question in asker.asked)
    assert yaml.safe_load(params.read_text())["evaluate"]["slices"] == []
