#!/usr/bin/env python3
"""Stand-ins for the hosted actions a workflow uses, run by act in host mode.

Each `actions/<name>/action.yml` is a composite action that calls `standin.py <name>` with the
action's inputs as JSON in $INPUTS. Every call is appended to $ACT_STANDIN_RECORD/calls.jsonl so a
test can assert what the workflow asked for. Standard library only: act runs this with the
machine's python3, not the project's environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SHA = re.compile(r"^[0-9a-f]{40}$")


def record(standin: str, **fields: object) -> None:
    """Append one call of a stand-in to the run's record."""
    path = Path(os.environ["ACT_STANDIN_RECORD"]) / "calls.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"standin": standin, **fields}) + "\n")


def set_output(name: str, value: str) -> None:
    """Set a step output the way a runner does: a line in $GITHUB_OUTPUT."""
    with Path(os.environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as out:
        out.write(f"{name}={value}\n")


def git(*args: str, cwd: Path) -> str:
    """Run git, failing the step with git's own message."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"checkout stand-in: git {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def _fetch_spec(ref: str) -> tuple[str, str, str | None]:
    """(remote ref, local ref, branch to create) for a ref as actions/checkout resolves it."""
    if SHA.match(ref):
        return ref, ref, None
    if ref.startswith("refs/pull/"):
        return ref, "refs/remotes/pull/" + ref.removeprefix("refs/pull/"), None
    if ref.startswith("refs/tags/"):
        return ref, ref, None
    branch = ref.removeprefix("refs/heads/")
    return f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", branch


def checkout(inputs: dict[str, str]) -> None:
    """Fetch the repository from the bare `origin` standing in for GitHub, like actions/checkout.

    Honours `ref` (default: the event's GITHUB_REF, so a pull request gets refs/pull/N/merge),
    `fetch-depth` (0 = all branches and tags as refs/remotes/origin/*), `path` and
    `persist-credentials` (true leaves an auth header in .git/config, as the real action does).
    """
    repository = inputs.get("repository") or os.environ["GITHUB_REPOSITORY"]
    if repository != os.environ["GITHUB_REPOSITORY"]:
        sys.exit(f"checkout stand-in: only {os.environ['GITHUB_REPOSITORY']} is served here")
    origin = Path(os.environ["ACT_STANDIN_ORIGIN"])
    workspace = Path(os.environ["GITHUB_WORKSPACE"]) / inputs.get("path", "")
    workspace.mkdir(parents=True, exist_ok=True)
    for child in workspace.iterdir():  # the real action cleans the workspace too
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    ref = inputs.get("ref") or os.environ["GITHUB_REF"]
    depth = int(inputs.get("fetch-depth") or "1")
    remote_ref, local_ref, branch = _fetch_spec(ref)
    git("init", "-q", cwd=workspace)
    # file:// so that --depth is honoured (a plain path makes git copy everything).
    git("remote", "add", "origin", origin.resolve().as_uri(), cwd=workspace)
    specs = [remote_ref] if SHA.match(ref) else [f"+{remote_ref}:{local_ref}"]
    if depth == 0:
        git("fetch", "-q", "--prune", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*",
            *specs, cwd=workspace)  # fmt: skip
    else:
        git("fetch", "-q", "--no-tags", f"--depth={depth}", "origin", *specs, cwd=workspace)
    if branch:
        git("checkout", "-q", "-B", branch, local_ref, cwd=workspace)
    else:
        git("checkout", "-q", "--detach", local_ref, cwd=workspace)
    persist = (inputs.get("persist-credentials") or "true").lower() == "true"
    if persist:
        git("config", "--local", "http.https://github.com/.extraheader",
            "AUTHORIZATION: basic ***", cwd=workspace)  # fmt: skip
    head = git("rev-parse", "HEAD", cwd=workspace)
    shallow = git("rev-parse", "--is-shallow-repository", cwd=workspace) == "true"
    record("checkout", inputs=inputs, ref=ref, head=head, shallow=shallow)


def setup_python(inputs: dict[str, str]) -> None:
    """Record the request; the machine's python3 stands in for the version asked for."""
    set_output("python-version", inputs.get("python-version", ""))
    record("setup-python", inputs=inputs)


def setup_uv(inputs: dict[str, str]) -> None:
    """Record the request; uv comes with the project's environment (see `cache`)."""
    record("setup-uv", inputs=inputs)


def _rewrite_script(entry: Path, link: Path, source: Path, target: Path) -> bool:
    """Copy a console script of `source` with its shebang naming `target`'s python instead."""
    try:
        text = entry.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    shebang = f"#!{source}/bin/python"
    if not text.startswith(shebang):
        return False
    link.write_text(f"#!{target}/bin/python" + text[len(shebang) :], encoding="utf-8")
    link.chmod(0o755)
    return True


def _layer(target: Path, source: Path, code: Path) -> None:
    """Make `target` an environment with `source`'s packages and the project installed from
    `code` (the checked-out workspace), as a restored cache of `make setup` would be on GitHub.

    Packages are links into `source`; the project's editable install names `code`'s src/, so a
    workflow runs the code it checked out (a pull request's own, or the base's), never the
    code of the environment's owner. Console scripts are rewritten to this environment's python.
    The Makefile's timestamp checks see fresh copies of its stamp and of uv (a checkout is
    always newer than the provided environment), so `make setup` finds nothing to rebuild.
    """
    for entry in source.iterdir():
        if entry.name in ("bin", "lib", ".installed"):
            continue
        (target / entry.name).symlink_to(entry.readlink() if entry.is_symlink() else entry)
    (target / "bin").mkdir(parents=True, exist_ok=True)
    for entry in (source / "bin").iterdir():
        link = target / "bin" / entry.name
        if entry.name == "uv":  # a fresh file, even when the provided uv is a link
            link.write_text(f'#!/bin/sh\nexec "{entry}" "$@"\n')
            link.chmod(0o755)
        elif entry.is_symlink():
            link.symlink_to(entry.readlink())
        elif not _rewrite_script(entry, link, source, target):
            link.symlink_to(entry)
    for packages in (source / "lib").glob("python*/site-packages"):
        mine = target / packages.relative_to(source)
        mine.mkdir(parents=True)
        for entry in packages.iterdir():
            if entry.name.startswith("__editable__") and "gitops_ml" in entry.name:
                continue
            (mine / entry.name).symlink_to(entry)
        (mine / "__editable__.gitops_ml.pth").write_text(f"{code / 'src'}\n", encoding="utf-8")
    (target / ".installed").touch()  # last: the stamp must be newer than bin/uv


def cache(inputs: dict[str, str]) -> None:
    """Restore the requested paths from what the harness provides, else report a miss.

    The harness maps a path (e.g. `.venv`) to a ready environment in $ACT_STANDIN_CACHE (JSON);
    on a hit each requested path is laid into the workspace as an environment running the
    workspace's code (see `_layer`). Nothing is saved.
    """
    provided = json.loads(os.environ.get("ACT_STANDIN_CACHE") or "{}")
    paths = [line.strip() for line in inputs.get("path", "").splitlines() if line.strip()]
    hit = bool(paths) and all(p in provided for p in paths)
    if hit:
        workspace = Path(os.environ["GITHUB_WORKSPACE"])
        for path in paths:
            (workspace / path).mkdir(parents=True, exist_ok=True)
            _layer(workspace / path, Path(provided[path]), workspace)
    set_output("cache-hit", "true" if hit else "false")
    record("cache", inputs=inputs, hit=hit)


def _artifact_files(patterns: list[str], root: Path) -> tuple[Path, list[Path]]:
    """Files named by upload-artifact `path` lines, and the directory to store them relative to."""
    found: list[Path] = []
    tops: list[Path] = []
    for pattern in patterns:
        matches = [root / pattern] if (root / pattern).exists() else sorted(root.glob(pattern))
        for match in matches:
            if match.is_dir():
                tops.append(match)
                found.extend(p for p in match.rglob("*") if p.is_file())
            else:
                tops.append(match.parent)
                found.append(match)
    # Like the real action: paths are kept relative to the least common ancestor of the inputs.
    base = Path(os.path.commonpath(tops)) if tops else root
    return base, found


def upload_artifact(inputs: dict[str, str]) -> None:
    """Copy the files to $ACT_STANDIN_RECORD/artifacts/<name>/ instead of uploading them."""
    name = inputs.get("name") or "artifact"
    patterns = [line.strip() for line in inputs.get("path", "").splitlines() if line.strip()]
    root = Path(os.environ["GITHUB_WORKSPACE"])
    base, files = _artifact_files(patterns, root)
    if not files:
        policy = inputs.get("if-no-files-found") or "warn"
        message = f"No files were found with the provided path: {' '.join(patterns)}"
        record("upload-artifact", inputs=inputs, files=[])
        if policy == "error":
            sys.exit(f"::error::{message}")
        if policy == "warn":
            print(f"::warning::{message}")
        return
    dest = Path(os.environ["ACT_STANDIN_RECORD"]) / "artifacts" / name
    for file in files:
        target = dest / file.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    stored = sorted(str(f.relative_to(base)) for f in files)
    record("upload-artifact", inputs=inputs, files=stored)


def download_artifact(inputs: dict[str, str]) -> None:
    """Copy artifact `name` of run `run-id` into `path`, from the runs the harness lists.

    $ACT_STANDIN_RUNS maps run ids to earlier runs' records (their `artifacts/` directories).
    Like the real action, another run's artifacts need a token with `actions: read`.
    """
    runs = json.loads(os.environ.get("ACT_STANDIN_RUNS") or "{}")
    run_id = inputs.get("run-id") or os.environ.get("GITHUB_RUN_ID", "")
    name = inputs.get("name", "")
    safe = {k: v for k, v in inputs.items() if k != "github-token"}
    record("download-artifact", inputs=safe, token=bool(inputs.get("github-token")))
    if run_id not in runs:
        sys.exit(f"::error::Unable to download artifact(s): no run {run_id}")
    if not inputs.get("github-token"):
        sys.exit("::error::Unable to download artifact(s) of another run without github-token")
    stored = Path(runs[run_id]) / "artifacts" / name
    if not stored.is_dir():
        sys.exit(f"::error::Unable to download artifact(s): Artifact not found for name: {name}")
    dest = Path(inputs.get("path") or os.environ["GITHUB_WORKSPACE"]).expanduser()
    shutil.copytree(stored, dest, dirs_exist_ok=True)
    set_output("download-path", str(dest))


ACTIONS = {
    "checkout": checkout,
    "setup-python": setup_python,
    "setup-uv": setup_uv,
    "cache": cache,
    "upload-artifact": upload_artifact,
    "download-artifact": download_artifact,
}


def main() -> None:
    """Run the stand-in named by the first argument with the inputs in $INPUTS."""
    inputs = {k: str(v) for k, v in json.loads(os.environ.get("INPUTS") or "{}").items()}
    ACTIONS[sys.argv[1]](inputs)


if __name__ == "__main__":
    main()
