"""Stand-in for GitHub's `gh` CLI: the label, issue and workflow calls the workflows make.

Keeps the repository's labels and issues in $ACT_STANDIN_GITHUB/issues.json and records every
call (argv and what it did) there, so a test can assert that a run opened one issue and the next
updated it. Like GitHub, it refuses a missing token (GH_TOKEN / GITHUB_TOKEN), a read-only one
(ACT_STANDIN_TOKEN=read) and an issue with a label the repository lacks. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FORBIDDEN = "HTTP 403: Resource not accessible by integration"


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and options (--key value, --key=value, bare --flag)."""
    flags = {"--force"}
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            key, eq, value = arg.partition("=")
            if eq:
                options[key[2:]] = value
            elif key in flags:
                options[key[2:]] = "true"
            else:
                options[key[2:]] = argv[i + 1]
                i += 1
        else:
            positional.append(arg)
        i += 1
    return positional, options


def body(options: dict[str, str]) -> str:
    """The body given by --body or --body-file."""
    if "body-file" in options:
        return Path(options["body-file"]).read_text(encoding="utf-8")
    return options.get("body", "")


def run(store: dict, positional: list[str], options: dict[str, str]) -> tuple[int, str]:
    """Apply one call to the store; (exit code, stdout)."""
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        return 4, "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN variable."
    read_only = os.environ.get("ACT_STANDIN_TOKEN") == "read"
    command = positional[:2]
    issues = store["issues"]
    if command == ["issue", "list"]:
        found = [
            i
            for i in issues
            if i["state"] == options.get("state", "open")
            and ("label" not in options or options["label"] in i["labels"])
        ]
        fields = options.get("json", "number,title").split(",")
        limit = int(options.get("limit", "30"))
        # gh lists the newest first
        found = sorted(found, key=lambda i: -i["number"])[:limit]
        return 0, json.dumps([{f: i.get(f) for f in fields} for i in found])
    if read_only:
        return 1, FORBIDDEN
    if command == ["label", "create"]:
        name = positional[2]
        if name in store["labels"] and options.get("force") != "true":
            return 1, f'label with name "{name}" already exists; use `--force` to update it'
        store["labels"][name] = {k: options.get(k, "") for k in ("color", "description")}
        return 0, ""
    if command == ["issue", "create"]:
        labels = [label for label in options.get("label", "").split(",") if label]
        missing = [label for label in labels if label not in store["labels"]]
        if missing:
            return 1, f"could not add label: '{missing[0]}' not found"
        number = len(issues) + 1
        issues.append(
            {
                "number": number,
                "title": options["title"],
                "body": body(options),
                "labels": labels,
                "state": "open",
                "comments": [],
                "edits": 0,
            }
        )
        return 0, f"https://github.com/{os.environ.get('GH_REPO', 'acme/churn')}/issues/{number}"
    if command == ["issue", "edit"] or command == ["issue", "comment"]:
        number = int(positional[2])
        matches = [i for i in issues if i["number"] == number]
        if not matches:
            return 1, f"GraphQL: Could not resolve to an issue with the number of {number}."
        if command[1] == "edit":
            matches[0]["body"] = body(options)
            matches[0]["edits"] += 1
        else:
            matches[0]["comments"].append(body(options))
        return 0, ""
    if command == ["workflow", "run"]:
        store["dispatches"].append({"workflow": positional[2], "ref": options.get("ref", "")})
        return 0, ""
    return 1, f"gh stand-in: unsupported call {' '.join(positional)}"


def main() -> int:
    """Apply one gh call, record it, print what gh would."""
    store_path = Path(os.environ["ACT_STANDIN_GITHUB"]) / "issues.json"
    empty = {"calls": [], "labels": {}, "issues": [], "dispatches": []}
    store = json.loads(store_path.read_text()) if store_path.exists() else empty
    positional, options = parse(sys.argv[1:])
    code, out = run(store, positional, options)
    store["calls"].append({"argv": sys.argv[1:], "exit": code, "result": out})
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_text(json.dumps(store, indent=2), encoding="utf-8")
    print(out, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
