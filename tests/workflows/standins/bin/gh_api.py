"""Stand-in for `gh api` on pull requests, their comments and commit statuses.

Comments live in the store the `cml` stand-in keeps ($ACT_STANDIN_GITHUB/cml.json), so either
poster finds the other's sticky comment by its CML watermark, as on GitHub. Serves
`gh api repos/O/R/issues/N/comments [--paginate]` (GET), the same path with `-F body=@FILE`
(POST), `-X PATCH repos/O/R/issues/comments/ID -F body=@FILE`, `repos/O/R/pulls?...` (GET, the
open pull requests the harness keeps in pulls.json) and `repos/O/R/statuses/SHA -f state=...`
(POST, appended to statuses.json). Refuses a missing or read-only token like GitHub.
Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

WATERMARK = re.compile(
    r'!\[\]\(https://cml\.dev/watermark\.png#[0-9a-fA-F]+ "CML watermark (.*?)"\)'
)


def _answer(code: int, answer: object) -> int:
    print(json.dumps(answer), file=sys.stdout if code == 0 else sys.stderr)
    return code


def pulls_and_statuses(method: str, path: str, fields: dict[str, str]) -> int:
    """List the open pull requests (pulls.json), or set a commit status (statuses.json)."""
    root = Path(os.environ["ACT_STANDIN_GITHUB"])
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        return _answer(4, {"message": "gh: set the GH_TOKEN environment variable"})
    if "/pulls" in path and method == "GET":
        pulls = root / "pulls.json"
        return _answer(0, json.loads(pulls.read_text()) if pulls.exists() else [])
    if "/statuses/" not in path or method != "POST":
        return _answer(1, {"message": f"gh api stand-in: unsupported {method} {path}"})
    if os.environ.get("ACT_STANDIN_TOKEN", "write") != "write":
        return _answer(1, {"message": "Resource not accessible by integration", "status": "403"})
    if fields.get("state") not in ("pending", "success", "failure", "error"):
        return _answer(1, {"message": f"Validation Failed: state {fields.get('state')!r}"})
    store = root / "statuses.json"
    statuses = json.loads(store.read_text()) if store.exists() else []
    statuses.append({"sha": path.rsplit("/", 1)[1], **fields})
    store.write_text(json.dumps(statuses, indent=2))
    return _answer(0, {"state": fields["state"], "context": fields.get("context")})


def main() -> int:
    """Apply one `gh api` call to the store; print GitHub's JSON answer."""
    store_path = Path(os.environ["ACT_STANDIN_GITHUB"]) / "cml.json"
    store = (
        json.loads(store_path.read_text()) if store_path.exists() else {"calls": [], "comments": []}
    )
    args = sys.argv[2:]
    method = "GET"
    fields: dict[str, str] = {}
    path = ""
    i = 0
    while i < len(args):
        if args[i] == "-X":
            method, i = args[i + 1], i + 2
        elif args[i] in ("-F", "-f"):
            key, _, value = args[i + 1].partition("=")
            typed = args[i] == "-F" and value[:1] == "@"
            fields[key] = Path(value[1:]).read_text(encoding="utf-8") if typed else value
            method = "POST" if method == "GET" else method
            i += 2
        elif args[i] == "--paginate":
            i += 1
        else:
            path, i = args[i], i + 1
    if re.fullmatch(r"repos/[^/]+/[^/]+/(pulls(\?.*)?|statuses/[0-9a-f]{40})", path):
        return pulls_and_statuses(method, path, fields)
    call: dict[str, object] = {"argv": sys.argv[1:], "via": "gh"}
    store["calls"].append(call)

    def finish(code: int, answer: object) -> int:
        call["result"] = answer
        store_path.write_text(json.dumps(store, indent=2))
        print(json.dumps(answer), file=sys.stdout if code == 0 else sys.stderr)
        return code

    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        return finish(4, {"message": "gh: set the GH_TOKEN environment variable"})
    listing = re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\d+)/comments", path)
    edit = re.fullmatch(r"repos/[^/]+/[^/]+/issues/comments/(\d+)", path)
    if listing and method == "GET":
        number = int(listing[1])
        found = [{"id": c["id"], "body": c["body"]} for c in store["comments"] if c["pr"] == number]
        return finish(0, found)
    if os.environ.get("ACT_STANDIN_TOKEN", "write") != "write":
        return finish(1, {"message": "Resource not accessible by integration", "status": "403"})
    body = fields.get("body", "")
    title = m[1] if (m := WATERMARK.search(body)) else ""
    if listing and method == "POST":
        comment = {"id": len(store["comments"]) + 1, "pr": int(listing[1]), "watermark": title,
                   "body": body, "updates": 0, "via": "gh"}  # fmt: skip
        store["comments"].append(comment)
        return finish(0, {"id": comment["id"]})
    if edit and method == "PATCH":
        found = [c for c in store["comments"] if c["id"] == int(edit[1])]
        if not found:
            return finish(1, {"message": "Not Found", "status": "404"})
        found[0]["body"] = body
        found[0]["updates"] += 1
        return finish(0, {"id": found[0]["id"]})
    return finish(1, {"message": f"gh api stand-in: unsupported {method} {path}"})


if __name__ == "__main__":
    sys.exit(main())
