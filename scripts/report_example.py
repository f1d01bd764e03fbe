"""`make report-example`: the report of a real pull request on the default data, for the docs.

In a temporary clone of the committed project, a branch changes one param (CHANGE below),
reproduces the pipeline, commits, and runs `gitops-ml report --base main --rescore --figures`
(the report as the judge in CI writes it).
The report, its JSON and PNGs are copied to docs/example-report/. A test makes the same
change from the same commit and checks that the code still writes this exact report.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
# The pull request of the example: fewer boosting iterations (the default model over-fits a little).
CHANGE = ("train.model.max_iter", "    max_iter: 200\n", "    max_iter: 100\n")


def apply_change(params: Path) -> None:
    """Edit params.yaml as the example pull request does, keeping its comments."""
    text = params.read_text(encoding="utf-8")
    _, old, new = CHANGE
    if text.count(old) != 1:
        raise SystemExit(f"{params}: expected one line {old.strip()!r} to change")
    params.write_text(text.replace(old, new), encoding="utf-8")


START = "<!-- example-report:start (written by `make report-example`; do not edit) -->"
END = "<!-- example-report:end -->"


def embed(doc: str, report_md: str, images: str = "example-report/") -> str:
    """`doc` with the report between its example markers, image links made relative to docs/."""
    if doc.count(START) != 1 or doc.count(END) != 1:
        raise SystemExit(f"expected one pair of markers {START!r} … {END!r}")
    head, rest = doc.split(START)
    _, tail = rest.split(END)
    body = re.sub(r"!\[([^]]*)\]\(([^)/]+\.png)\)", rf"![\1]({images}\2)", report_md)
    return f"{head}{START}\n{body}{END}{tail}"


def _env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_AUTHOR_NAME": "Example",
        "GIT_AUTHOR_EMAIL": "example@example.com",
        "GIT_COMMITTER_NAME": "Example",
        "GIT_COMMITTER_EMAIL": "example@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for name in ("MLFLOW_TRACKING_URI", "GITHUB_ACTIONS", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        env.pop(name, None)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def main() -> int:
    """Build the example pull request in a temporary clone and write its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "example-report")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "pull-requests.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-example-") as tmp:
        repo, env = Path(tmp) / "repo", _env(Path(tmp))
        repo.mkdir()
        # The committed state, exactly: what `main` holds, not local edits.
        archive = subprocess.run(
            ["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
        _run(["git", "init", "-q", "-b", "main"], repo, env)
        _run(["git", "add", "-A"], repo, env)
        _run(["git", "commit", "-q", "-m", "base"], repo, env)
        _run(["git", "checkout", "-q", "-b", "example"], repo, env)
        apply_change(repo / "params.yaml")
        _run(["dvc", "repro", "-q"], repo, env)
        _run(["git", "add", "-A"], repo, env)
        _run(["git", "commit", "-q", "-m", f"Change {CHANGE[0]}"], repo, env)
        out = Path(tmp) / "report"
        # The report as the judge in CI writes it: re-scoring the model, drawing the PNGs.
        cmd = ["gitops-ml", "report", "--base", "main", "--rescore", "--figures", "--out", str(out)]
        _run(cmd, repo, env)
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.copytree(out, args.out)
    doc = args.doc.read_text(encoding="utf-8")
    args.doc.write_text(embed(doc, (args.out / "report.md").read_text(encoding="utf-8")))
    print(f"wrote {args.out} and the example in {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
