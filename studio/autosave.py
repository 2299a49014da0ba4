"""Autosave: the whole session, every 30 s and after each result, so a crash or a kill -9
loses at most half a minute; offered back at the next start.

Each running studio writes its own file, ``autosave-<pid>.lsession``, in the autosave folder
(beside the settings), atomically (:func:`studio.session.save_session`), from the io lane.
A clean quit removes it; one whose process is gone is what a crash left behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from studio.session import SUFFIX

INTERVAL_MS = 30_000          # at most this much unsaved work is lost
AFTER_RESULT_MS = 1_500       # a result is autosaved this soon (several in a row: once)


def folder() -> Path:
    """Where autosaves go: beside $LATENT_STUDIO_SETTINGS (tests), else the app data folder."""
    env = os.environ.get("LATENT_STUDIO_SETTINGS")
    if env:
        return Path(env).parent / "autosave"
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".latent-studio") / "autosave"


def own_path() -> Path:
    return folder() / f"autosave-{os.getpid()}{SUFFIX}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # another user's process
        return True
    except OSError:
        return False
    return True


def leftovers() -> list[Path]:
    """Autosaves of studios that did not quit cleanly (their process is gone), newest first."""
    out = []
    for path in folder().glob(f"autosave-*{SUFFIX}"):
        pid = path.stem.removeprefix("autosave-")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            out.append(path)
    return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)


def snapshot(value: Any) -> Any:
    """A copy of a session state whose arrays the panels cannot change while it is written
    on another thread."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [snapshot(v) for v in value]
    return value
