"""File dialogs that remember: each kind of file (pictures, sounds, studies, checkpoints,
sessions) starts in the folder last used for it, and what was opened is kept in that kind's
recent list (File > Open Recent)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

from models.eval.study import AUDIO_EXT, IMAGE_EXT  # the kinds the studio reads

KINDS = {            # kind -> (menu title, file extensions)
    "session": ("Sessions", (".lsession",)),
    "picture": ("Pictures", tuple(sorted(IMAGE_EXT))),
    "sound": ("Sounds", tuple(sorted(AUDIO_EXT | {".oga", ".mp3", ".aiff", ".aif"}))),
    "study": ("Studies", (".db", ".sqlite")),
    "checkpoint": ("Checkpoints", (".safetensors", ".pt", ".pth", ".ckpt", ".bin", ".pkl")),
}
MAX_RECENT = 8


def make_settings() -> QSettings:
    """Persistent settings; $LATENT_STUDIO_SETTINGS points them at an INI file (tests)."""
    path = os.environ.get("LATENT_STUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("LatentStudio", "Latent Studio")


def kind_of(path: str | Path) -> str:
    """The kind of a file from its extension ("" when none fits; a folder: a checkpoint)."""
    p = Path(path)
    suffix = p.suffix.lower()
    for kind, (_, exts) in KINDS.items():
        if suffix in exts:
            return kind
    return "checkpoint" if p.is_dir() else ""


def settings_of(widget: QWidget | None) -> QSettings:
    """The studio's settings, found from a panel or the window (else read afresh)."""
    w = widget
    while w is not None:
        ctx = getattr(w, "ctx", None)
        if ctx is not None and getattr(ctx, "settings", None) is not None:
            return ctx.settings
        if isinstance(getattr(w, "settings", None), QSettings):
            return w.settings
        w = w.parentWidget()
    return make_settings()


def last_folder(settings: QSettings, kind: str) -> str:
    folder = str(settings.value(f"dialogs/{kind}", "") or "")
    return folder if folder and Path(folder).is_dir() else ""


def recent(settings: QSettings, kind: str) -> list[str]:
    value = settings.value(f"recent/{kind}", [])
    return [value] if isinstance(value, str) else [str(v) for v in (value or [])]


def remember(settings: QSettings, path: str | Path, kind: str = "",
             opened: bool = True) -> None:
    """Keep ``path``'s folder as its kind's last folder, and (``opened``) the file first in
    its kind's recent list."""
    kind = kind or kind_of(path)
    if not kind or not str(path):
        return
    p = Path(path)
    settings.setValue(f"dialogs/{kind}", str(p if p.is_dir() and kind != "checkpoint"
                                             else p.parent))
    if opened:
        items = [str(p)] + [r for r in recent(settings, kind) if r != str(p)]
        settings.setValue(f"recent/{kind}", items[:MAX_RECENT])


def migrate(settings: QSettings) -> None:
    """The one recent list of earlier versions ("recent_files") into the lists per kind."""
    old = settings.value("recent_files")
    if old is None:
        return
    for path in reversed([old] if isinstance(old, str) else list(old or [])):
        remember(settings, str(path))
    settings.remove("recent_files")


def open_file(parent: QWidget, kind: str, title: str, filters: str) -> str:
    """A file to open ("" when cancelled), starting in this kind's last folder."""
    settings = settings_of(parent)
    path, _ = QFileDialog.getOpenFileName(parent, title, last_folder(settings, kind), filters)
    if path:
        remember(settings, path, kind)
    return path


def open_files(parent: QWidget, kind: str, title: str, filters: str) -> list[str]:
    settings = settings_of(parent)
    paths, _ = QFileDialog.getOpenFileNames(parent, title, last_folder(settings, kind),
                                            filters)
    for p in reversed(paths):
        remember(settings, p, kind)
    return paths


def save_file(parent: QWidget, kind: str, title: str, name: str, filters: str) -> str:
    """Where to save ("" when cancelled): ``name`` in this kind's last folder."""
    return save_file_as(parent, kind, title, name, filters)[0]


def folder(parent: QWidget, kind: str, title: str) -> str:
    """A folder ("" when cancelled), starting where this kind's last folder was."""
    settings = settings_of(parent)
    start = last_folder(settings, f"{kind}-folder") or last_folder(settings, kind)
    chosen = QFileDialog.getExistingDirectory(parent, title, start)
    if chosen:
        settings.setValue(f"dialogs/{kind}-folder", str(Path(chosen).parent))
    return chosen


def save_file_as(parent: QWidget, kind: str, title: str, name: str, filters: str
                 ) -> tuple[str, str]:
    """:func:`save_file`, and the filter the user chose (the format)."""
    settings = settings_of(parent)
    start = last_folder(settings, kind)
    path, used = QFileDialog.getSaveFileName(parent, title, str(Path(start) / name) if start
                                             else name, filters)
    if path:
        remember(settings, path, kind, opened=False)
    return path, used
