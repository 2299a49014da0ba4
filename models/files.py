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


class WriteError(OSError):
    """A file the studio writes could not be written (the error number and the file the
    user asked for; :func:`os_error_words` says it)."""


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
    except OSError as exc:
        if exc.errno is None:
            raise
        # The error names the file the user asked for, not the temporary one.
        raise WriteError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


# A file up to this size is hashed whole; a bigger one (a 4 GB Stable Diffusion checkpoint
# would take seconds) by its size and SAMPLE_BLOCKS blocks spread over it, first and last
# included: a different file of the same size differs in a sampled block in practice.
WHOLE_HASH_BYTES = 256 << 20
SAMPLE_BLOCKS, BLOCK = 64, 1 << 20
_fingerprints: dict[tuple[str, int, int], str] = {}


def _file_fingerprint(path: Path) -> str:
    import hashlib

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _fingerprints:
        return _fingerprints[key]
    h = hashlib.sha256(str(st.st_size).encode())
    with path.open("rb") as f:
        if st.st_size <= WHOLE_HASH_BYTES:
            for chunk in iter(lambda: f.read(BLOCK), b""):
                h.update(chunk)
        else:
            step = (st.st_size - BLOCK) / (SAMPLE_BLOCKS - 1)
            for i in range(SAMPLE_BLOCKS):
                f.seek(round(i * step))
                h.update(f.read(BLOCK))
    _fingerprints[key] = digest = h.hexdigest()
    return digest


def fingerprint(path: str | Path) -> str:
    """A SHA-256 of a checkpoint's content ("sha256:…"): of the file, or, for a folder (a
    diffusers model), of every file's relative name and fingerprint. Equal fingerprints, the
    same weights; computed once per (path, size, modification time)."""
    path = Path(path)
    if path.is_dir():
        import hashlib

        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{_file_fingerprint(f)}\n".encode())
        return "sha256:" + h.hexdigest()
    return "sha256:" + _file_fingerprint(path)


def save_picture(img, path: str | Path, **options) -> Path:
    """A Pillow image written whole or not at all, its format from ``path``'s extension
    (ValueError for one Pillow cannot write)."""
    from PIL import Image

    path = Path(path)
    kind = Image.registered_extensions().get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown picture type '{path.suffix}' (write .png)")
    return write_with(path, lambda tmp: img.save(tmp, format=kind, **options))


def save_npz(path: str | Path, compressed: bool = False, **arrays) -> Path:
    """numpy arrays to ``path`` (.npz), whole or not at all."""
    import numpy as np

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)

    return write_with(path, write)
