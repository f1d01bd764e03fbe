"""The steps of monitor.yml (.github/scripts/monitor.sh) outside GitHub, with a stand-in `gh`."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "monitor.sh"
STANDIN_BIN = ROOT / "tests" / "workflows" / "standins" / "bin"


@pytest.fixture
def env(tmp_path: Path, tool_env: dict[str, str]) -> dict[str, str]:
    """The script's environment: the stand-in gh first on PATH, its store in tmp_path/api."""
    return {
        **tool_env,
        "PATH": f"{STANDIN_BIN}{os.pathsep}{tool_env['PATH']}",
        "ACT_STANDIN_GITHUB": str(tmp_path / "api"),
        "GH_TOKEN": "stand-in-token",
        "GH_REPO": "acme/churn",
        "MONITOR_DIR": str(tmp_path / "monitor"),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "RUN_URL": "https://github.com/acme/churn/actions/runs/1",
    }


def script(step: str, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), step],
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=300,
    )


def store(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((tmp_path / "api" / "issues.json").read_text())


def write_report(env: dict[str, str], text: str) -> None:
    report = Path(env["MONITOR_DIR"]) / "report"
    report.mkdir(parents=True, exist_ok=True)
    (report / "monitor.md").write_text(text)


def test_drift_opens_one_issue_then_updates_it(tmp_path: Path, env: dict[str, str]) -> None:
    """The first drifted run opens one `drift` issue; the next updates it; none is duplicated."""
    write_report(env, "## Monitoring report\n\n- tenure: distribution shifted\n")
    first = script("issue", env)
    assert first.returncode == 0, first.stderr
    [opened] = store(tmp_path)["issues"]
    assert opened["labels"] == ["drift"]
    assert opened["state"] == "open"
    assert "tenure: distribution shifted" in opened["body"]
    assert "actions/runs/1" in opened["body"]
    assert "drift" in store(tmp_path)["labels"]

    write_report(env, "## Monitoring report\n\n- contract: new categories\n")
    second = script("issue", env, RUN_URL="https://github.com/acme/churn/actions/runs/2")
    assert second.returncode == 0, second.stderr
    [updated] = store(tmp_path)["issues"]
    assert updated["number"] == opened["number"]
    assert "contract: new categories" in updated["body"]
    assert "tenure" not in updated["body"]
    assert updated["edits"] == 1
    assert len(updated["comments"]) == 1
    assert "actions/runs/2" in updated["comments"][0]
    commands = [c["argv"][:2] for c in store(tmp_path)["calls"]]
    assert commands.count(["issue", "create"]) == 1


def test_closed_issue_is_not_reopened(tmp_path: Path, env: dict[str, str]) -> None:
    """Once the team closes the issue, the next drift opens a fresh one."""
    write_report(env, "## Monitoring report\n")
    assert script("issue", env).returncode == 0
    data = store(tmp_path)
    data["issues"][0]["state"] = "closed"
    (tmp_path / "api" / "issues.json").write_text(json.dumps(data))
    assert script("issue", env).returncode == 0
    assert [(i["number"], i["state"]) for i in store(tmp_path)["issues"]] == [
        (1, "closed"),
        (2, "open"),
    ]


def test_long_report_is_cut_to_fit_an_issue(tmp_path: Path, env: dict[str, str]) -> None:
    """A report longer than GitHub's body limit is cut, pointing at the artifact."""
    write_report(env, "x" * 70_000)
    assert script("issue", env).returncode == 0
    body = store(tmp_path)["issues"][0]["body"]
    assert len(body) < 65_536
    assert "the full report is in the run artifact" in body


def test_read_only_token_fails_the_step(tmp_path: Path, env: dict[str, str]) -> None:
    """Without issues: write the step fails instead of pretending it raised the alarm."""
    write_report(env, "## Monitoring report\n")
    done = script("issue", env, ACT_STANDIN_TOKEN="read")
    assert done.returncode != 0
    assert "Resource not accessible by integration" in done.stderr
    assert store(tmp_path)["issues"] == []


@pytest.fixture
def served(tmp_path: Path, raw_frame: pd.DataFrame) -> Iterator[str]:
    """A loopback HTTP server holding batch.csv; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    raw_frame.head(300).to_csv(root / "batch.csv", index=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def outputs(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "github_output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.example_data  # the example's file and columns
def test_fetch_from_a_url_a_path_or_the_simulator(
    tmp_path: Path, env: dict[str, str], served: str
) -> None:
    """The current batch comes from a URL, a repository path, or the simulator by default."""
    done = script("fetch", env, SOURCE=f"{served}/batch.csv")
    assert done.returncode == 0, done.stderr
    fetched = Path(outputs(tmp_path)["current"])
    assert fetched.name == "current.csv"
    assert len(pd.read_csv(fetched)) == 300

    done = script("fetch", env, SOURCE="data/raw/telco_churn.csv")
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path)["current"] == "data/raw/telco_churn.csv"

    done = script("fetch", env, SOURCE="", ROWS="120", SEED="4", DRIFT="tenure:shift=3")
    assert done.returncode == 0, done.stderr
    simulated = Path(outputs(tmp_path)["current"])
    assert len(pd.read_parquet(simulated)) == 120

    bad = script("fetch", env, SOURCE="s3://bucket/batch.json")
    assert bad.returncode == 1
    assert "s3://bucket/batch.json: expected a path ending in .csv or .parquet" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = script("fetch", env, SOURCE="data/nowhere.csv")
    assert missing.returncode == 1
    assert "data/nowhere.csv: file not found" in missing.stderr
    gone = script("fetch", env, SOURCE=f"{served}/gone.csv")
    assert gone.returncode == 1
    assert f"{served}/gone.csv: cannot be fetched" in gone.stderr
    assert "Traceback" not in gone.stderr
