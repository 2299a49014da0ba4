"""Session files: every panel's state in one zip (session.json + arrays.npz).

Panel states are dicts of JSON values and numpy arrays (latents, masks, images); arrays are
stored in the npz and referenced from the JSON, so a session reopens exactly.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "latent-studio-session"
VERSION = 1
SUFFIX = ".lsession"


class SessionError(ValueError):
    """A session file that cannot be read; the message names the file and the problem."""


def _pack(value: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {"__array__": path}
    if isinstance(value, dict):
        return {str(k): _pack(v, arrays, f"{path}/{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, arrays, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unpack(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return np.array(arrays[value["__array__"]])
        return {k: _unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value


def save_session(path: str | Path, panels: dict[str, dict[str, Any]]) -> Path:
    """Write every panel's state to ``path`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    doc = {"format": FORMAT, "version": VERSION, "panels": _pack(panels, arrays, "p")}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    from models.files import write_with

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("session.json", json.dumps(doc, indent=1))
            z.writestr("arrays.npz", buf.getvalue())

    return write_with(path, write)


def load_session(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a session written by :func:`save_session`."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("session.json"))
            arrays = np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False)
            if doc.get("format") != FORMAT:
                raise SessionError(f"{path}: not a Latent Studio session")
            if int(doc.get("version", 0)) > VERSION:
                raise SessionError(f"{path}: written by a newer Latent Studio "
                                   f"(session version {doc['version']}, this one reads {VERSION})")
            return _unpack(doc["panels"], arrays)
    except SessionError:
        raise
    except FileNotFoundError:
        raise SessionError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SessionError(f"{path}: not a readable session file ({exc})") from None
