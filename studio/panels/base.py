"""What every panel has: a name, an undo stack, a state for sessions, file and export hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLayout, QVBoxLayout, QWidget

from models.protocol import BackendInfo, Capability
from models.registry import Registry
from studio.jobs import JobRunner


def with_suffix(path: str, suffix: str, accepted: tuple[str, ...] = ()) -> str:
    """A save-dialog answer with the extension of the format the user chose: "ratings" ->
    "ratings.csv" (a name with an accepted extension is kept; "" stays "")."""
    if not path:
        return path
    if Path(path).suffix.lower() in (accepted or (suffix,)):
        return path
    return path + suffix


class ParamCommand(QUndoCommand):
    """A parameter change, applied through ``apply(name, value)``; consecutive changes of one
    parameter (a slider drag) merge into one undo step."""

    def __init__(self, apply: Callable[[str, Any], None], name: str, old: Any, new: Any) -> None:
        super().__init__(f"Change {name}")
        self.apply, self.name, self.old, self.new = apply, name, old, new

    def id(self) -> int:
        return 4242

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt override)
        if not isinstance(other, ParamCommand) or other.name != self.name:
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.apply(self.name, self.new)

    def undo(self) -> None:
        self.apply(self.name, self.old)


class DocCommand(QUndoCommand):
    """A change of a panel's document (``panel.doc``, with ``state()`` / ``from_state`` and
    the panel's ``set_doc``), kept as the state before and after. Consecutive changes with
    the same non-empty ``merge`` name (one slider drag) merge into one undo step."""

    def __init__(self, panel: Any, what: str, new: dict[str, Any], merge: str = "") -> None:
        super().__init__(what)
        self.panel, self.new, self.merge = panel, new, merge
        self.old = panel.doc.state()

    def id(self) -> int:
        return 5151 if self.merge else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt override)
        if not isinstance(other, DocCommand) or not self.merge or other.merge != self.merge:
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.panel.set_doc(type(self.panel.doc).from_state(self.new))

    def undo(self) -> None:
        self.panel.set_doc(type(self.panel.doc).from_state(self.old))


def clipboard_picture() -> tuple[np.ndarray | None, str, str]:
    """What the clipboard holds: (an RGB uint8 picture, "", "") or (None, a local file it
    names, "") or (None, "", why there is nothing)."""
    clip = QGuiApplication.clipboard()
    mime = clip.mimeData()
    if mime is not None and mime.hasImage():
        img = clip.image().convertToFormat(QImage.Format.Format_RGB888)
        if img.isNull() or img.width() == 0:
            return None, "", "The clipboard image is empty"
        arr = np.array(img.constBits(), dtype=np.uint8).reshape(
            img.height(), img.bytesPerLine())[:, : img.width() * 3]
        return arr.reshape(img.height(), img.width(), 3), "", ""
    if mime is not None and mime.hasUrls() and mime.urls()[0].isLocalFile():
        return None, mime.urls()[0].toLocalFile(), ""
    return None, "", "The clipboard holds no image"


def ask_png(parent: QWidget, title: str, default: str) -> str:
    """A PNG file name from a save dialog ("" when cancelled), ".png" added if left out."""
    path, _ = QFileDialog.getSaveFileName(parent, title, default, "PNG (*.png)")
    return with_suffix(path, ".png")


@dataclass
class StudioContext:
    """What the main window hands every panel."""

    jobs: JobRunner
    registry: Registry
    settings: QSettings


class Panel(QWidget):
    """Base of every panel; each can also run alone (``python -m studio.panels.<name>``).

    Subclasses set ``name`` and ``title`` and override the hooks they support.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    open_filter: ClassVar[str] = ""  # file dialog filter for File > Open, "" if none
    # What this panel wants of a checkpoint several families read (the Latent Explorer
    # takes a Stable Diffusion checkpoint's VAE).
    checkpoint_capability: ClassVar[Capability] = Capability.NONE

    error = Signal(str, str)  # message, details: shown in the status bar
    message = Signal(str)  # transient status-bar note
    models_changed = Signal()  # the panel registered a checkpoint
    send_to_evaluation = Signal(str, str)  # folder of results, label
    send_latent = Signal(str, object, str)  # model, latent (D,), label: to the Latent Explorer
    send_picture = Signal(object, str)  # RGB uint8 (H, W, 3), label: to the Inpainting panel
    keep_in_library = Signal(str, object, str)  # model, latent (D,), name: the latent library
    request_clip = Signal(str)  # this panel's name: it asks for the Spectrogram editor's clip
    # A result with its recipe: (Recipe, RGB uint8 thumbnail or None, the panel's title);
    # the window keeps it in the history.
    result_made = Signal(object, object, str)

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.undo_stack = QUndoStack(self)
        self.setObjectName(f"panel-{self.name}")
        self.shortcuts: list[tuple[str, str]] = []   # (keys, what they do), for Help > F1

    def add_shortcut(self, keys: str, slot: Callable[[], Any], what: str) -> QShortcut:
        """A key that works while this panel is shown, listed in Help > Keyboard Shortcuts."""
        sc = QShortcut(QKeySequence(keys), self, slot)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.setWhatsThis(what)
        self.shortcuts.append((QKeySequence(keys).toString(), what))
        return sc

    def set_columns(self, top: QLayout, left: QLayout, right: QLayout,
                    stretch: tuple[int, int] = (3, 2)) -> None:
        """This panel's layout: a row of controls over two columns (``stretch`` shares)."""
        body = QHBoxLayout()
        for column, share in ((left, stretch[0]), (right, stretch[1])):
            holder = QWidget()
            holder.setLayout(column)
            body.addWidget(holder, share)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(body, 1)

    def state(self) -> dict[str, Any]:
        """Everything needed to restore this panel exactly (JSON values and numpy arrays)."""
        return {}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""

    def open_file(self, path: str) -> None:
        """Open a file of the panel's kind (File > Open and drag and drop)."""
        self.message.emit(f"{self.title} does not open files")

    def export(self) -> None:
        """Export the panel's result (File > Export)."""
        self.message.emit(f"{self.title} has nothing to export")

    def write_or_say(self, write: Callable[[], Any], path: str | Path) -> bool:
        """Run an export's ``write``; a failure is said in our words (a full disk, a folder
        without permission, a picture type Pillow cannot write) instead of raised."""
        try:
            write()
        except OSError as exc:
            from models.files import os_error_words

            self.error.emit(os_error_words(exc, path), "")
            return False
        except ValueError as exc:
            self.error.emit(str(exc), "")
            return False
        return True

    def begin_restore(self, model: str) -> None:
        """Start restoring a recipe: its model (one opened from the recipe's path is listed
        by every panel) and an undo macro the settings go into (the caller ends it)."""
        combo = getattr(self, "model_combo", None)
        if combo is not None and model not in combo.names():
            self.models_changed.emit()
        refresh = getattr(self, "_refresh_models", None)
        if refresh is not None:
            refresh()
        self.undo_stack.beginMacro("Settings of the recipe")

    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def register_checkpoint(self, path: str,
                            then: Callable[[BackendInfo], None] | None = None) -> None:
        """Load a user checkpoint into the registry in the background (loading builds the
        model, which can take a while); a bad file becomes a message."""

        def loaded(info: BackendInfo) -> None:
            self.message.emit(f"Loaded {info.name} ({info.family})")
            self.models_changed.emit()
            if then is not None:
                then(info)

        self.ctx.jobs.submit(f"{self.name}-checkpoint", lambda *, ctx: (
            self.ctx.registry.add_checkpoint(path, capability=self.checkpoint_capability)),
            lane="io",
            label=f"Loading {Path(path).name}", on_result=loaded, on_error=self.error.emit)

    def backend_changed(self) -> None:
        """The compute device or the set of registered models changed."""

    def receive_for_evaluation(self, folder: str, label: str) -> None:
        """A folder another panel sent (only the Evaluation panel takes it)."""

    def receive_latent(self, model: str, latent: Any, label: str) -> None:
        """A latent another panel sent (only the Latent Explorer takes it)."""

    def receive_picture(self, rgb: Any, label: str) -> None:
        """A picture another panel sent (only the Inpainting panel takes it)."""

    def receive_audio(self, samples: Any, rate: int, label: str) -> None:
        """A clip (mono float32 at ``rate``) it asked for with ``request_clip``."""

    def shutdown(self) -> None:
        """Cancel this panel's jobs (every key starting with its name); called before the
        window closes. Panels that stop timers or devices do so, then call this."""
        self.ctx.jobs.cancel_all(f"{self.name}-")
