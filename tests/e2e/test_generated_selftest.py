"""A project made by `gitops-ml init` on a generated dataset passes its own `make test`.

The dataset is the generated credit table (tests/support/datasets.py): missing categoricals
written as NaN, None and blanks, numbers as text with blanks, a boolean flag with blanks,
`bad`/`good` labels, names with spaces and accents. After init, the project's suite leaves out
the tests about the example data and runs every other one on the new data, reading names,
labels and expectations from params.yaml and the data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import BIN, copy_project, run
from ..support import datasets
from ..support.venv import clone_venv
from ..test_readme import without_venv

pytestmark = [pytest.mark.slow, pytest.mark.example_data]  # init from the template as shipped

SPEC = datasets.by_name("credit")


def test_a_generated_projects_own_test_suite_passes(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """init on the credit table, commit, then `make test` in the new project: all green."""
    repo = copy_project(tmp_path / "project", tool_env)
    clone_venv(repo)
    data = datasets.write(datasets.rows(SPEC), tmp_path / "export" / SPEC.file_name, SPEC)
    init = [str(BIN / "gitops-ml"), "init", "--yes", "--data", str(data), "--target", SPEC.target]
    init += ["--positive-label", SPEC.positive_text, "--name", "credit", "--remove-example-data"]
    env = without_venv(tool_env)
    run(init, repo, env)
    run(["git", "commit", "-qm", "Start credit"], repo, tool_env)
    # This run's own pytest settings stay out; its temporary files go under this test's.
    nested = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    nested["PYTEST_ADDOPTS"] = f"--basetemp={tmp_path / 'pytest'}"
    # A whole second test suite: its hang guard is the suite's, not one command's.
    done = run(["make", "test"], repo, nested, check=False, timeout=1800)
    tail = "\n".join(done.stdout.splitlines()[-60:])
    assert done.returncode == 0, f"{tail}\n--- stderr\n{done.stderr[-3000:]}"
    assert "example-data test(s) left out" in done.stdout
    assert " failed" not in tail
    assert " error" not in tail
