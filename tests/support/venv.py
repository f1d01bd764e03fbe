"""A project copy's own `.venv`, as `make setup` would make it, without downloading anything.

`make setup` installs the hashed locks from the network, which tests cannot reach. A copy of
the project gets instead a virtual environment of its own that shares this one's installed
packages: its own `bin/` (console scripts whose `#!` line names the copy's interpreter, so
`readlink -f .venv/bin/dvc` and `sysconfig` see the copy, as after a real install), its own
`pyvenv.cfg`, and `lib/` linked to the installed packages. The package itself is installed in
editable mode from this checkout, whose code the copy holds too.

Make then finds the environment up to date: `make run` and `make test` run as written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..conftest import ROOT

SOURCE = ROOT / ".venv"


def clone_venv(project: Path) -> Path:
    """Give `project` a `.venv` sharing this checkout's packages; return its bin directory."""
    venv = project / ".venv"
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(SOURCE / "pyvenv.cfg", venv / "pyvenv.cfg")
    for name in ("lib", "include", "share"):
        if (SOURCE / name).exists():
            (venv / name).symlink_to(SOURCE / name, target_is_directory=True)
    if (SOURCE / "lib64").exists():
        (venv / "lib64").symlink_to("lib")
    old, new = str(SOURCE).encode(), str(venv).encode()
    for entry in sorted((SOURCE / "bin").iterdir()):
        target = bin_dir / entry.name
        if entry.is_symlink():  # python, python3, ...: the base interpreter
            target.symlink_to(entry.readlink())
            continue
        data = entry.read_bytes()
        if data.startswith(b"#!") or entry.name.startswith("activate"):
            target.write_bytes(data.replace(old, new))  # scripts name the copy's interpreter
            shutil.copymode(entry, target)
        else:
            target.symlink_to(entry)  # binaries (uv, act, ruff, ...) work from anywhere
    # Installed now: newer than the locks, as after `make setup`.
    (venv / ".installed").touch()
    done = subprocess.run(
        ["make", "-q", ".venv/.installed"], cwd=project, capture_output=True, text=True
    )
    # Make must not try to reinstall: through the shared lib/ it would change this checkout's.
    if done.returncode != 0:
        raise AssertionError(
            f"make finds {venv} out of date ({done.stdout}{done.stderr}); run `make setup` here"
        )
    return bin_dir
