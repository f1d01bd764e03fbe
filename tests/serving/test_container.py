"""The container's install steps, run in a fresh virtualenv (Docker cannot build here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from gitops_ml.serving.scoring import FIDELITY

from ..conftest import BIN, ROOT, run
from ..support.serving import Trained, free_port, process

DOCKERFILE = ROOT / "Dockerfile"


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_hashes() -> None:
    """The image builds in one stage, runs in another as an unprivileged user, with a probe."""
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/health", text, flags=re.M)
    assert "--require-hashes -r requirements/requirements.txt" in text
    assert "--no-deps --no-build-isolation ." in text


@pytest.mark.slow
def test_install_steps_give_a_working_server(
    trained: Trained, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """The Dockerfile's install commands, in a new venv, give a server that answers."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    # The same commands as the build stage; the installer is the project's own uv, from the
    # same hashed bootstrap lock, so its cache can be reused.
    base = Path(getattr(sys, "_base_executable", sys.executable))
    run([str(base), "-m", "venv", str(venv)], ROOT, tool_env)
    install = [str(BIN / "uv"), "pip", "install", "--quiet", "--python", str(python)]
    run([*install, "--require-hashes", "-r", "requirements/requirements.txt"], ROOT, tool_env)
    # Like the Dockerfile's COPY: only what the package build needs (and no build/ in the repo).
    context = tmp_path / "context"
    for name in ("pyproject.toml", "README.md"):
        context.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, context / name)
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "src", context / "src", ignore=ignore)
    run([*install, "--no-deps", "--no-build-isolation", str(context)], context, tool_env)
    freeze = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pytest==" not in freeze  # runtime lock only
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(venv / "bin" / "gitops-ml"),
        "serve",
        "--model",
        str(trained.model_path),
        "--schema",
        str(trained.schema_path),
        "--port",
        str(port),
        "--params",
        str(ROOT / "params.yaml"),
    ]
    env = {**tool_env, "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    with process(cmd, tmp_path, env, f"{url}/ready"):
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "detail": None}
        body = httpx.post(f"{url}/predict", json=trained.records(3)).json()
    want = trained.pipeline.predict_proba(trained.test[trained.schema.features].head(3))[:, 1]
    got = [p["probability"] for p in body["predictions"]]
    np.testing.assert_allclose(got, want, rtol=0, atol=FIDELITY)
