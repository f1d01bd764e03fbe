"""The parts of GitHub a workflow run sees, made of local parts: a bare `origin`, pull-request refs,
event payloads and the comment store the `cml` stand-in keeps."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = "acme/churn"


def _git(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{done.stderr}")
    return done.stdout.strip()


def pull_request_event(
    number: int,
    *,
    base_ref: str,
    base_sha: str,
    head_ref: str,
    head_sha: str,
    repository: str = REPOSITORY,
    head_repository: str | None = None,
    action: str = "synchronize",
) -> dict[str, Any]:
    """A `pull_request` payload; `head_repository` other than `repository` makes it a fork's."""
    head_repository = head_repository or repository

    def repo(full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {"full_name": full_name, "name": name, "owner": {"login": owner}, "fork": False}

    head = repo(head_repository)
    head["fork"] = head_repository != repository
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": f"Pull request {number}",
            "head": {"ref": head_ref, "sha": head_sha, "repo": head},
            "base": {"ref": base_ref, "sha": base_sha, "repo": repo(repository)},
        },
        "repository": repo(repository),
        "sender": {"login": head_repository.split("/")[0]},
    }


def push_event(
    *, ref: str, before: str, after: str, repository: str = REPOSITORY
) -> dict[str, Any]:
    """A `push` payload (e.g. a merge to main)."""
    owner, name = repository.split("/")
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": {"full_name": repository, "name": name, "owner": {"login": owner}},
        "head_commit": {"id": after},
    }


def workflow_run_event(
    *,
    run_id: str,
    workflow: str,
    head_sha: str,
    head_branch: str,
    conclusion: str,
    event: str = "pull_request",
    repository: str = REPOSITORY,
) -> dict[str, Any]:
    """A `workflow_run` (completed) payload for the run `run_id` of `workflow`."""
    owner, name = repository.split("/")
    return {
        "action": "completed",
        "workflow_run": {
            "id": int(run_id),
            "name": workflow,
            "event": event,
            "status": "completed",
            "conclusion": conclusion,
            "head_sha": head_sha,
            "head_branch": head_branch,
            "html_url": f"https://github.com/{repository}/actions/runs/{run_id}",
            # GitHub lists no pull request here for a fork's; the judge looks it up by head.
            "pull_requests": [],
        },
        "repository": {"full_name": repository, "name": name, "owner": {"login": owner}},
    }


def workflow_dispatch_event(
    inputs: dict[str, str], *, ref: str = "refs/heads/main", repository: str = REPOSITORY
) -> dict[str, Any]:
    """A `workflow_dispatch` payload with the given inputs."""
    owner, name = repository.split("/")
    return {
        "inputs": inputs,
        "ref": ref,
        "repository": {"full_name": repository, "name": name, "owner": {"login": owner}},
    }


@dataclass(frozen=True)
class FakeGitHub:
    """A repository on "GitHub": `origin.git` (bare) and `api/` (state the stand-ins keep)."""

    root: Path
    env: dict[str, str]
    repository: str = REPOSITORY

    @property
    def origin(self) -> Path:
        """The bare repository that checkout fetches from."""
        return self.root / "origin.git"

    @property
    def api(self) -> Path:
        """Directory of the state GitHub's API would hold (the `cml` stand-in's comment store)."""
        return self.root / "api"

    @classmethod
    def create(
        cls, root: Path, source: Path, env: dict[str, str], branch: str = "main"
    ) -> FakeGitHub:
        """A new origin holding `branch` of the local repository `source`, set as its `origin`."""
        hub = cls(root=root, env=env)
        root.mkdir(parents=True, exist_ok=True)
        hub.api.mkdir(exist_ok=True)
        _git(["init", "-q", "--bare", "-b", branch, str(hub.origin)], root, env)
        remotes = _git(["remote"], source, env).split()
        verb = "set-url" if "origin" in remotes else "add"
        _git(["remote", verb, "origin", str(hub.origin)], source, env)
        _git(["push", "-q", "origin", f"{branch}:{branch}"], source, env)
        return hub

    def sha(self, ref: str) -> str:
        """The commit a ref of origin points at."""
        return _git(["rev-parse", ref], self.origin, self.env)

    def open_pull_request(
        self,
        number: int,
        source: Path,
        head_ref: str,
        *,
        base_ref: str = "main",
        fork: str | None = None,
    ) -> dict[str, Any]:
        """Open (or update) pull request `number` from `head_ref` of `source`; its event payload.

        Like GitHub, origin gets refs/pull/N/head and the test merge refs/pull/N/merge; a
        same-repository branch is pushed as a branch too, a fork's (`fork="owner/name"`) is not.
        """
        if fork is None:
            _git(
                ["push", "-q", "-f", str(self.origin), f"{head_ref}:refs/heads/{head_ref}"],
                source,
                self.env,
            )
        _git(
            ["push", "-q", "-f", str(self.origin), f"{head_ref}:refs/pull/{number}/head"],
            source,
            self.env,
        )
        base_sha = self.sha(f"refs/heads/{base_ref}")
        head_sha = self.sha(f"refs/pull/{number}/head")
        tree = _git(["merge-tree", "--write-tree", base_sha, head_sha], self.origin, self.env)
        merge = _git(
            [
                "commit-tree",
                tree,
                "-p",
                base_sha,
                "-p",
                head_sha,
                "-m",
                f"Merge {head_sha} into {base_sha}",
            ],
            self.origin,
            self.env,
        )
        _git(["update-ref", f"refs/pull/{number}/merge", merge], self.origin, self.env)
        self._store_pull(number, head_ref, head_sha, base_ref, fork or self.repository)
        return pull_request_event(
            number,
            base_ref=base_ref,
            base_sha=base_sha,
            head_ref=head_ref,
            head_sha=head_sha,
            repository=self.repository,
            head_repository=fork,
        )

    def _store_pull(
        self, number: int, head_ref: str, head_sha: str, base_ref: str, head_repo: str
    ) -> None:
        """Keep the open pull request where the `gh api` stand-in lists them (api/pulls.json)."""
        path = self.api / "pulls.json"
        pulls = [p for p in self.pulls() if p["number"] != number]
        pulls.append(
            {
                "number": number,
                "state": "open",
                "head": {"ref": head_ref, "sha": head_sha, "repo": {"full_name": head_repo}},
                "base": {"ref": base_ref, "repo": {"full_name": self.repository}},
            }
        )
        path.write_text(json.dumps(pulls, indent=2), encoding="utf-8")

    def pulls(self) -> list[dict[str, Any]]:
        """The open pull requests."""
        path = self.api / "pulls.json"
        return json.loads(path.read_text()) if path.exists() else []

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """The commit statuses set on `sha`, oldest first."""
        path = self.api / "statuses.json"
        found = json.loads(path.read_text()) if path.exists() else []
        return [s for s in found if s["sha"] == sha]

    def clone(self, dest: Path, branch: str = "main") -> Path:
        """A clone of `branch` of origin (a runner's work directory for a workflow on it)."""
        _git(["clone", "-q", "-b", branch, str(self.origin), str(dest)], self.root, self.env)
        return dest

    def cml_store(self) -> dict[str, Any]:
        """The `cml` stand-in's record: its calls and the comments it keeps."""
        path = self.api / "cml.json"
        return json.loads(path.read_text()) if path.exists() else {"calls": [], "comments": []}

    def comments(self, number: int) -> list[dict[str, Any]]:
        """The comments on pull request `number`."""
        return [c for c in self.cml_store()["comments"] if c["pr"] == number]
