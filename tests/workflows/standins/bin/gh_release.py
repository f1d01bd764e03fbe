"""Stand-in for GitHub's `gh release create|view|download` under act, with a release store.

Records every call (argv, what it did) in $ACT_STANDIN_GITHUB/gh.json and copies a release's asset
files to $ACT_STANDIN_GITHUB/releases/<tag>/, so a test can assert what was published. Like GitHub,
it refuses a missing token (GH_TOKEN / GITHUB_TOKEN), a read-only one (ACT_STANDIN_TOKEN=read), a
tag that origin ($ACT_STANDIN_ORIGIN) does not hold when --verify-tag is given, and a second
release of the same tag. `download` copies a release's assets back (`--dir`, `--pattern`), and
fails as gh does for a release that does not exist or a pattern that matches no asset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

VALUED = {"--title", "-t", "--notes", "-n", "--notes-file", "-F", "--target", "--repo", "-R",
          "--dir", "-D"}  # fmt: skip


def patterns(argv: list[str]) -> list[str]:
    """Every `--pattern`/`-p` value (the option may repeat)."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("--pattern", "-p") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--pattern="):
            found.append(arg.partition("=")[2])
    return found


def download(api: Path, store: dict, tag: str, argv: list[str], options: dict[str, str]) -> str:
    """Copy the matching assets of the release of `tag` into --dir; an error message or ''."""
    release = next((r for r in store["releases"] if r["tag"] == tag), None)
    if release is None:
        return "release not found"
    wanted = patterns(argv)
    names = [a for a in release["assets"] if not wanted or any(fnmatch(a, p) for p in wanted)]
    if not names:
        return "no assets match the file pattern"
    dest = Path(options.get("--dir") or options.get("-D") or ".")
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = dest / name
        if target.exists() and "--clobber" not in options:
            return f"{target} already exists (use `--clobber` to overwrite file)"
        shutil.copy2(api / "releases" / tag / name, target)
    return ""


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and options (`--key value`, `--key=value`, bare flags)."""
    positional: list[str] = []
    options: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg.startswith("-"):
            key, eq, value = arg.partition("=")
            if eq:
                options[key] = value
            elif key in VALUED:
                options[key] = next(args, "")
            else:
                options[key] = "true"
        else:
            positional.append(arg)
    return positional, options


def main() -> int:
    """Apply one gh call to the store; exit non-zero where real gh would."""
    api = Path(os.environ["ACT_STANDIN_GITHUB"])
    store_path = api / "gh.json"
    store = json.loads(store_path.read_text()) if store_path.exists() else {"calls": []}
    store.setdefault("releases", [])
    positional, options = parse(sys.argv[1:])
    call: dict[str, object] = {"argv": sys.argv[1:], "options": options}
    store["calls"].append(call)

    def finish(code: int, message: str) -> int:
        call["result"] = message
        store_path.write_text(json.dumps(store, indent=2))
        print(message, file=sys.stderr if code else sys.stdout)
        return code

    verbs = (["release", "create"], ["release", "view"], ["release", "download"])
    if positional[:2] not in verbs or len(positional) < 3:
        return finish(1, f"gh stand-in: unsupported call {sys.argv[1:]}")
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        return finish(4, "gh: To use GitHub CLI in a GitHub Actions workflow, set GH_TOKEN")
    if os.environ.get("ACT_STANDIN_TOKEN", "write") != "write" and positional[1] != "download":
        return finish(1, "HTTP 403: Resource not accessible by integration")
    tag, files = positional[2], positional[3:]
    if positional[1] == "download":
        problem = download(api, store, tag, sys.argv[1:], options)
        return finish(1 if problem else 0, problem or f"downloaded the assets of {tag}")
    if positional[1] == "view":
        if any(r["tag"] == tag for r in store["releases"]):
            return finish(0, f"release {tag}")
        return finish(1, "release not found")
    if any(r["tag"] == tag for r in store["releases"]):
        return finish(1, f"HTTP 422: Validation Failed (release for {tag} already_exists)")
    if "--verify-tag" in options:
        origin = os.environ["ACT_STANDIN_ORIGIN"]
        found = subprocess.run(
            ["git", "--git-dir", origin, "rev-parse", "-q", "--verify", f"refs/tags/{tag}"],
            capture_output=True,
        )
        if found.returncode != 0:
            return finish(1, f"tag {tag} doesn't exist in the repo, aborting due to --verify-tag")
    dest = api / "releases" / tag
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        if not Path(name).is_file():
            return finish(1, f"open {name}: no such file or directory")
        shutil.copy2(name, dest / Path(name).name)
    notes_file = options.get("--notes-file") or options.get("-F")
    notes = (
        Path(notes_file).read_text(encoding="utf-8") if notes_file else options.get("--notes", "")
    )
    store["releases"].append(
        {
            "tag": tag,
            "title": options.get("--title") or options.get("-t") or tag,
            "notes": notes,
            "assets": [Path(f).name for f in files],
        }
    )
    return finish(
        0, f"https://github.com/{os.environ.get('GITHUB_REPOSITORY', '')}/releases/tag/{tag}"
    )


if __name__ == "__main__":
    sys.exit(main())
