"""Writing outputs so that a failure never leaves a half-written file behind, and reading back
the JSON one command wrote for the next."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_ml.core.errors import UserError


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place.

    Where the system allows (Linux), the temporary file has no name until it is complete: a
    process killed while writing (SIGKILL, out of memory) leaves nothing behind. Elsewhere it
    is a hidden file named after this host and process, and the next write to `path` removes
    those a dead process of this host left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _unnamed_file(path.parent)
    if fd is not None:
        try:
            write(Path(f"/proc/self/fd/{fd}"))
            os.fchmod(fd, 0o666 & ~_umask())
            _name_into_place(fd, path)
        finally:
            os.close(fd)
        return
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates 0600; give the file the mode an ordinary open() would.
        Path(tmp).chmod(0o666 & ~_umask())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unnamed_file(directory: Path) -> int | None:
    """A new file in `directory` without a name (O_TMPFILE), or None where there is none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(directory, flag | os.O_RDWR, 0o600)
    except OSError:  # a file system without unnamed files (older overlayfs, NFS, ...)
        return None


def _name_into_place(fd: int, path: Path) -> None:
    # A file can only get a name that does not exist yet: link it under a temporary one, then
    # rename that over `path` (atomic). Passing the directory as src_dir_fd makes Python use
    # linkat() with AT_SYMLINK_FOLLOW, which resolves /proc/self/fd/N to the file itself.
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        temporary = f"{_temp_prefix(path)}{uuid.uuid4().hex}.tmp"
        os.link(
            f"/proc/self/fd/{fd}",
            temporary,
            src_dir_fd=directory,
            dst_dir_fd=directory,
            follow_symlinks=True,
        )
        os.replace(temporary, path.name, src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        os.close(directory)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{socket.gethostname()}-{os.getpid()}-"


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files for `path` left by dead processes of this host."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{re.escape(socket.gethostname())}-(\d+)-")
    for candidate in path.parent.glob(f".{path.name}.*"):
        found = pattern.match(candidate.name)
        if found and not _alive(int(found.group(1))):
            candidate.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    write_atomic(path, write)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Write stable, diff-friendly JSON atomically (sorted keys, two-space indent)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, written_by: str) -> Any:
    """A JSON file the command `written_by` wrote; UserError naming the file and the command."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; `gitops-ml {written_by}` writes it") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not readable as JSON ({exc})") from None


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of bytes (where a hash must resist forgery: registered model files)."""
    return hashlib.sha256(data).hexdigest()


def md5(path: Path) -> str:
    """MD5 of a file's bytes, as DVC records it for a single file."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
