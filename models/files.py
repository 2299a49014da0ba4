"""Files the studio writes: whole or not at all, and our own words when they cannot be.

A file goes to a temporary name beside its target and is renamed over it once complete, so
a full disk, a kill or a crash leaves the earlier file untouched and no partial one. What
goes wrong is said from the error number ("the disk is full", "no permission to write in
FOLDER"), never in a library's words ("System error.").
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

from models.checkpoints import first_line


def os_error_words(exc: OSError, path: str | Path) -> str:
    """One line for a failed write of ``path``, from the error number."""
    path = Path(path)
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"{path}: the disk is full (nothing was written; the earlier file is kept)"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: no permission to write in {path.parent}"
    if code == errno.ENOENT:
        return f"{path}: folder {path.parent} does not exist"
    if code == errno.EISDIR:
        return f"{path}: is a folder"
    return f"{path}: could not write ({exc.strerror or first_line(exc)})"


def write_whole(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary name beside it (renamed once
    complete); an OSError keeps its number (see :func:`os_error_words`)."""
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_with(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` for a temporary name beside ``path``, then rename it to ``path``;
    nothing is left behind when it fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
