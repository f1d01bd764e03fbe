"""The files attached to a GitHub Release, downloaded with `gh` (GitHub's CLI).

On GitHub's runners `gh` is installed and the job's token (GH_TOKEN) lets it read the releases;
with no DVC remote, the releases are where the bytes of earlier models live.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gitops_ml.core.errors import RegistryError, UserError

TIMEOUT = 300.0


def download(tag: str, names: list[str], dest: Path) -> None:
    """Download the assets `names` of the release of `tag` into `dest`; each must exist."""
    gh = shutil.which("gh")
    if gh is None:
        raise UserError(
            "gh (GitHub's CLI) is not installed: it downloads the model files attached to the "
            "releases, which the registry is rebuilt from (it is on GitHub's runners)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    patterns = [arg for name in names for arg in ("--pattern", name)]
    command = [gh, "release", "download", tag, "--dir", str(dest), "--clobber", *patterns]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RegistryError(
            f"release {tag}: gh release download took over {TIMEOUT:.0f} s"
        ) from None
    missing = [name for name in names if not (dest / name).is_file()]
    if done.returncode != 0 or missing:
        said = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
        raise RegistryError(
            f"release {tag}: cannot download {', '.join(missing or names)} ({said}); the "
            "registry is rebuilt from the model file and version.json that Promote attaches to "
            "each release"
        )
