"""Every command that loads a model refuses crafted files and pickled registry versions, and no
code in them runs: evaluate, predict, serve (at start and on reload), monitor, promote, rollback.

The crafted files call, on load, a callable of numpy that runs a string (`tests/support/crafted`);
the string would create a marker file, whose absence proves nothing ran. A real MLflow server
holds the registry; versions are made the way an attacker with write access to it would.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitops_ml.infra import lineage, model_source
from gitops_ml.release.registry import CHAMPION, ModelRegistry

from ..conftest import BIN, ROOT, run
from ..support import crafted
from ..support.serving import (
    ID,
    MODEL_NAME,
    Trained,
    env_for,
    fit_model,
    free_port,
    process,
    register,
    start_mlflow_server,
    tracking,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's MLflow server keeps its database and artifacts."""
    return tmp_path_factory.mktemp("untrusted")


@pytest.fixture(scope="module")
def server(server_home: Path, tool_env: dict[str, str]) -> Iterator[Any]:
    """A registry of this module's own on a real MLflow server."""
    with start_mlflow_server(server_home, tool_env) as started:
        yield started


@pytest.fixture(scope="module")
def project(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's trained model and data, with a params.yaml naming the test registry."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(trained.root, root, dirs_exist_ok=True)
    text = (ROOT / "params.yaml").read_text().replace("poll_seconds: 30", "poll_seconds: 0.5")
    text = re.sub(r"(?m)^  model_name: .*$", f"  model_name: {MODEL_NAME}", text)
    (root / "params.yaml").write_text(text)
    batch = trained.test[[ID, *trained.schema.features]].head(50)
    batch.to_csv(root / "batch.csv", index=False)
    return root


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """The file a payload would create; each test asserts it was never created."""
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "code from a model file ran"


def _upload(server: Any, directory: Path, name: str = MODEL_NAME, **tags: str) -> str:
    """Register an MLflow model directory as a new version, as anyone with write access can."""
    with tracking(server.uri):
        reg = ModelRegistry(name, server.uri)
        client = reg.client
        experiment = client.get_experiment_by_name("untrusted")
        exp_id = experiment.experiment_id if experiment else client.create_experiment("untrusted")
        run_id = client.create_run(exp_id).info.run_id
        client.log_artifacts(run_id, str(directory), "model")
        client.set_terminated(run_id)
        if not reg.versions():
            client.create_registered_model(name)
        version = client.create_model_version(
            name, f"runs:/{run_id}/model", run_id=run_id, tags=tags
        )
        return str(version.version)


def _good_version(trained: Trained, server: Any) -> str:
    """A version logged as `train` does, its file's hash recorded as `promote` does."""
    version = register(trained, server, alias="good")
    with tracking(server.uri):
        digest = model_source.fetch(f"models:/{MODEL_NAME}/{version}").sha256
        ModelRegistry(MODEL_NAME, server.uri).tag(version, {lineage.ARTIFACT_SHA256: digest})
    return version


def _crafted_skops_dir(trained: Trained, server: Any, marker: Path, into: Path) -> Path:
    """A logged model directory whose skops file hides a payload inside the real pipeline."""
    good = register(trained, server, alias="source")
    with tracking(server.uri):
        import mlflow.artifacts

        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{MODEL_NAME}/{good}", dst_path=str(into)
            )
        )
    skops_file = next(local.rglob("*.skops"))
    skops_file.write_bytes(crafted.hidden_in(skops_file.read_bytes(), marker))
    return local


def _cli(project: Path, server: Any, env: dict[str, str], *args: str) -> Any:
    return run(
        [str(BIN / "gitops-ml"), *args, "--params", str(project / "params.yaml")],
        project,
        env_for(server, env),
        check=False,
    )


def _refused(done: Any, *fragments: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)


@pytest.fixture
def sources(
    trained: Trained, server: Any, marker: Path, tmp_path: Path, project: Path
) -> dict[str, tuple[str, str]]:
    """Model sources an attacker made, each with what its refusal says."""
    local = project / "models" / "crafted.skops"
    local.write_bytes(crafted.standalone(marker))
    pickled = _upload(server, crafted.pickled_mlflow_model(tmp_path / "pickled", marker))
    hidden = _upload(server, _crafted_skops_dir(trained, server, marker, tmp_path / "dl"))
    return {
        "local crafted file": (str(local), "types outside the template's models"),
        "registry version pickled": (
            f"models:/{MODEL_NAME}/{pickled}",
            "serialized as 'cloudpickle': refusing to unpickle it",
        ),
        "registry version with a payload": (
            f"models:/{MODEL_NAME}/{hidden}",
            "numpy.testing._private.utils.runstring",
        ),
    }


def test_evaluate_refuses_a_crafted_file(
    project: Path, server: Any, tool_env: dict[str, str], marker: Path
) -> None:
    """`evaluate` (the DVC stage) refuses a crafted model file and writes nothing."""
    (project / "models" / "evil.skops").write_bytes(crafted.standalone(marker))
    out = project / "eval-evil"
    done = _cli(
        project, server, tool_env, "evaluate", "--prepared", "data/prepared",
        "--model", "models/evil.skops", "--out", str(out),
    )  # fmt: skip
    _refused(done, "evil.skops: refusing to load", "runstring")
    assert not out.exists()


def test_predict_and_monitor_refuse_every_untrusted_source(
    project: Path,
    server: Any,
    tool_env: dict[str, str],
    sources: dict[str, tuple[str, str]],
) -> None:
    """Batch scoring and monitoring refuse a crafted file and pickled or crafted registry
    versions, naming what they refused; neither writes an output."""
    for kind, (uri, said) in sources.items():
        out = project / f"scores-{len(kind)}.csv"
        done = _cli(
            project, server, tool_env, "predict", "--input", "batch.csv", "--output", str(out),
            "--model", uri, "--schema", "data/prepared/schema.json",
        )  # fmt: skip
        _refused(done, said)
        assert not out.exists(), kind
        report = project / f"monitor-{len(kind)}"
        done = _cli(
            project, server, tool_env, "monitor", "--current", "batch.csv", "--out", str(report),
            "--model", uri,
        )  # fmt: skip
        _refused(done, said)
        assert not report.exists(), kind


def test_serve_refuses_to_start_on_an_untrusted_source(
    project: Path,
    server: Any,
    tool_env: dict[str, str],
    sources: dict[str, tuple[str, str]],
) -> None:
    """`serve` exits with the refusal instead of serving an untrusted model."""
    for uri, said in sources.values():
        done = _cli(project, server, tool_env, "serve", "--model", uri, "--port", str(free_port()))
        _refused(done, said)


def test_serve_keeps_the_live_champion_when_the_alias_moves_to_a_pickle(
    trained: Trained,
    project: Path,
    server: Any,
    tool_env: dict[str, str],
    marker: Path,
    tmp_path: Path,
) -> None:
    """A champion alias moved to a pickled version is not loaded by a running server: it keeps
    serving the version it had and says why on /ready."""
    good = _good_version(trained, server)
    with tracking(server.uri):
        ModelRegistry(MODEL_NAME, server.uri).set_alias(CHAMPION, good)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "gitops-ml"), "serve", "--port", str(port)]
    cmd += ["--params", str(project / "params.yaml")]
    with process(cmd, project, env_for(server, tool_env), f"{url}/ready"):
        assert httpx.get(f"{url}/metadata").json()["model_version"] == good
        pickled = _upload(server, crafted.pickled_mlflow_model(tmp_path / "pickled", marker))
        with tracking(server.uri):
            ModelRegistry(MODEL_NAME, server.uri).set_alias(CHAMPION, pickled)
        detail = ""
        for _ in range(120):
            detail = httpx.get(f"{url}/ready").json()["detail"] or ""
            if "refusing to unpickle" in detail:
                break
            time.sleep(0.25)
        assert f"models:/{MODEL_NAME}/{pickled}" in detail
        assert "refusing to unpickle" in detail
        assert httpx.get(f"{url}/metadata").json()["model_version"] == good
        body = httpx.post(f"{url}/predict", json=trained.records(2)).json()
        assert body["model_version"] == good
        assert 'gitops_ml_model_reloads_total{outcome="failed"}' in httpx.get(f"{url}/metrics").text


def test_a_registered_file_changed_after_registration_is_refused(
    trained: Trained,
    project: Path,
    server: Any,
    server_home: Path,
    tool_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """A version whose file no longer hashes to the SHA-256 recorded at registration is
    refused, even when the new file is a valid model of allowed types."""
    version = _good_version(trained, server)
    with tracking(server.uri):
        reg = ModelRegistry(MODEL_NAME, server.uri)
        [output] = reg.client.get_run(reg.get(version).run_id).outputs.model_outputs
    other = fit_model(tmp_path / "other", max_iter=7)
    # The artifact store, written behind the registry's back (as a leaked storage key allows).
    [stored] = (server_home / "artifacts").rglob(f"{output.model_id}/**/model.skops")
    shutil.copy(other.model_path, stored)
    out = project / "tampered.csv"
    done = _cli(
        project, server, tool_env, "predict", "--input", "batch.csv", "--output", str(out),
        "--model", f"models:/{MODEL_NAME}/{version}",
    )  # fmt: skip
    _refused(done, "recorded when it was registered (the artifact changed since)")
    assert not out.exists()


# --- promote and rollback, in a git repository reproduced by `dvc repro` -----------------------


def _promotable(repo_copy: Callable[[], Path], env: dict[str, str], name: str) -> Path:
    repo = repo_copy()
    params = repo / "params.yaml"
    text = re.sub(r"(?m)^  model_name: .*$", f"  model_name: {name}", params.read_text())
    params.write_text(text)
    run(["git", "commit", "-q", "-am", "Registry of the test"], repo, env)
    return repo


def test_promote_refuses_a_crafted_model_file_and_registers_nothing(
    repo_copy: Callable[[], Path], server: Any, tool_env: dict[str, str], marker: Path
) -> None:
    """A crafted models/model.skops that dvc.lock records is refused before registration."""
    env = env_for(server, tool_env)
    repo = _promotable(repo_copy, env, "m-crafted-candidate")
    (repo / "models" / "model.skops").write_bytes(crafted.standalone(marker))
    run(["dvc", "commit", "-q", "-f", "train"], repo, env)
    run(["git", "commit", "-q", "-am", "A crafted model"], repo, env)
    done = run([str(BIN / "gitops-ml"), "promote"], repo, env, check=False)
    _refused(done, "models/model.skops: refusing to load", "runstring")
    with tracking(server.uri):
        assert ModelRegistry("m-crafted-candidate", server.uri).versions() == []


def test_promote_and_rollback_refuse_an_untrusted_registered_version(
    repo_copy: Callable[[], Path],
    server: Any,
    tool_env: dict[str, str],
    marker: Path,
    tmp_path: Path,
) -> None:
    """A pickled champion stops `promote` (nothing moves), and `rollback --to` a pickled
    version is refused (the champion stays)."""
    env = env_for(server, tool_env)
    name = "m-untrusted-versions"
    repo = _promotable(repo_copy, env, name)
    head = run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    first = run([str(BIN / "gitops-ml"), "promote"], repo, env)
    assert "v1: promoted to champion" in first.stdout
    pickled = _upload(
        server,
        crafted.pickled_mlflow_model(tmp_path / "pickled", marker),
        name=name,
        **{lineage.COMMIT: head},
    )
    done = run(
        [str(BIN / "gitops-ml"), "rollback", "--to", pickled, "--reason", "try it"],
        repo,
        env,
        check=False,
    )
    _refused(done, f"v{pickled}", "refusing to unpickle")
    with tracking(server.uri):
        reg = ModelRegistry(name, server.uri)
        assert reg.aliases()[CHAMPION] == "1"
        reg.set_alias(CHAMPION, pickled)  # an attacker with registry access moves the alias
    run(["git", "commit", "-q", "--allow-empty", "-m", "Another commit"], repo, env)
    done = run([str(BIN / "gitops-ml"), "promote"], repo, env, check=False)
    _refused(done, f"{name!r} v{pickled}", "refusing to unpickle")
    with tracking(server.uri):
        reg = ModelRegistry(name, server.uri)
        assert reg.aliases()[CHAMPION] == pickled
        assert [v.version for v in reg.versions()] == ["1", pickled]  # nothing registered
