"""The History dock: every result made in the studio, this session and earlier ones.

Thumbnails (waveforms for sounds) in a grid, newest first, filtered by panel, model and a
text, starred ones alone if asked. Double-click (or Open) restores the result's panel with
every control as it was; Copy recipe puts its recipe (JSON) on the clipboard; Star and
Delete act on the selection. The entries live in SQLite (models/history.py); only the
metadata of every entry is read when the dock fills, the thumbnails of the rows shown as
they are shown, so thousands of entries open at once and scroll smoothly.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from models.history import THUMB, Entry, History

ALL = "All panels"
ANY_MODEL = "All models"


class EntryModel(QAbstractListModel):
    """The entries shown; thumbnails decoded when a row is first drawn, then kept."""

    def __init__(self, history: History, parent=None) -> None:
        super().__init__(parent)
        self.history = history
        self.rows: list[Entry] = []
        self._icons: dict[int, QIcon] = {}

    def set_rows(self, rows: list[Entry]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 (Qt)
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("★ " if e.starred else "") + (e.model or e.task)
        if role == Qt.ItemDataRole.ToolTipRole:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.made))
            return f"{e.panel}: {e.task} with {e.model}\n{when}" + (
                f"\n{e.text}" if e.text else "")
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(e.id)
            if icon is None:
                blob = self.history.thumbs([e.id]).get(e.id)
                pix = QPixmap()
                if blob:
                    pix.loadFromData(blob, "PNG")
                icon = self._icons[e.id] = QIcon(pix)
            return icon
        if role == Qt.ItemDataRole.UserRole:
            return e.id
        return None


class HistoryDock(QDockWidget):
    """Every result, across panels; opens one in its panel."""

    open_recipe = Signal(object)        # a Recipe: the window restores its panel
    sweep_recipe = Signal(object)       # a Recipe: the window opens the Sweep dialog
    send_recipe = Signal(object, str)   # a Recipe and a target ("inpaint", "latent", ...)
    reuse_seed = Signal(object)         # a Recipe: its seed into its panel
    message = Signal(str)
    error = Signal(str, str)

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__("History", parent)
        self.setObjectName("history-dock")
        self.history = history
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.panel_combo = QComboBox()
        self.model_combo = QComboBox()
        row.addWidget(self.panel_combo, 1)
        row.addWidget(self.model_combo, 1)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: prompt, file, model…")
        self.filter_edit.setClearButtonEnabled(True)
        self.starred_check = QCheckBox("★ only")
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.starred_check)
        lay.addLayout(row)
        self.model = EntryModel(history, self)
        self.view = QListView()
        self.view.setObjectName("history-view")
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 16, THUMB + 30))
        self.view.setUniformItemSizes(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setWordWrap(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open the result in its panel, every control as it was "
                                    "(double-click does too): run it again or change one "
                                    "thing")
        self.copy_button = QPushButton("Copy recipe")
        self.copy_button.setToolTip("The result's recipe as JSON: 'latent-studio replay' "
                                    "runs it")
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setToolTip("Run the result again with one to three settings "
                                     "swept")
        self.star_button = QPushButton("★")
        self.star_button.setToolTip("Star or unstar the selected results")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Take the selected results off the history")
        for b in (self.open_button, self.copy_button, self.sweep_button, self.star_button,
                  self.delete_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.setWidget(body)
        self.panel_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.model_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.filter_edit.textChanged.connect(lambda _t: self.refresh())
        self.starred_check.toggled.connect(lambda _v: self.refresh())
        self.view.doubleClicked.connect(lambda _i: self.open_selected())
        self.open_button.clicked.connect(self.open_selected)
        self.copy_button.clicked.connect(self.copy_selected)
        self.sweep_button.clicked.connect(self.sweep_selected)
        self.star_button.clicked.connect(self.star_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self._fill_choices()
        self.refresh()

    # -- filling ------------------------------------------------------------------------------

    def _fill_choices(self) -> None:
        for combo, first, items in ((self.panel_combo, ALL, self.history.panels()),
                                    (self.model_combo, ANY_MODEL, self.history.models())):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(first)
            combo.addItems(items)
            combo.setCurrentText(current if current in items else first)
            combo.blockSignals(False)

    def refresh(self) -> None:
        panel = self.panel_combo.currentText()
        model = self.model_combo.currentText()
        self.model.set_rows(self.history.entries(
            panel="" if panel == ALL else panel, model="" if model == ANY_MODEL else model,
            text=self.filter_edit.text().strip(), starred=self.starred_check.isChecked()))

    def add(self, panel: str, recipe: Any, thumb: bytes, kind: str = "picture") -> int:
        """Keep a result (committed at once) and show it first."""
        entry_id = self.history.add(panel, recipe, thumb, kind=kind)
        if panel not in self.history.panels() or self.panel_combo.findText(panel) < 0 or \
                self.model_combo.findText(recipe.model.get("name", "")) < 0:
            self._fill_choices()
        self.refresh()
        return entry_id

    # -- acting -------------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        return [self.model.rows[i.row()].id for i in self.view.selectionModel().selectedIndexes()]

    def open_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.error.emit("Select a result in the history first", "")
            return
        try:
            recipe = self.history.recipe(ids[0])
        except (KeyError, ValueError) as exc:
            self.error.emit(f"That history entry cannot be read: {exc}", "")
            return
        self.open_recipe.emit(recipe)

    PICTURE_TARGETS = (("inpaint", "Inpainting: the picture"),
                       ("latent", "Latent Explorer: an endpoint"),
                       ("stylemix", "Style Mixer: a row source"),
                       ("evaluation", "Evaluation: a folder for metrics or a study"))
    SOUND_TARGETS = (("spectral", "Spectrogram: the clip"),
                     ("speech_attributes", "Speech attributes: the clip"),
                     ("evaluation", "Evaluation: a folder for metrics or a study"))

    def _menu(self, pos) -> None:
        from PySide6.QtWidgets import QMenu

        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        self.view.setCurrentIndex(index)
        entry = self.model.rows[index.row()]
        menu = QMenu(self)
        menu.addAction("Open in its panel", self.open_selected)
        menu.addAction("Reuse seed", self.reuse_selected)
        menu.addAction("Copy recipe", self.copy_selected)
        menu.addAction("Show the inputs", self.show_inputs)
        menu.addAction("Sweep…", self.sweep_selected)
        send = menu.addMenu("Send to")
        targets = self.SOUND_TARGETS if entry.kind == "sound" else self.PICTURE_TARGETS
        for target, text in targets:
            send.addAction(text, lambda t=target: self.send_selected(t))
        menu.addSeparator()
        menu.addAction("Star / unstar", self.star_selected)
        menu.addAction("Delete", self.delete_selected)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._open_menu = menu

    def _selected_recipe(self):
        ids = self.selected_ids()
        if not ids:
            self.error.emit("Select a result in the history first", "")
            return None
        try:
            return self.history.recipe(ids[0])
        except (KeyError, ValueError) as exc:
            self.error.emit(f"That history entry cannot be read: {exc}", "")
            return None

    def send_selected(self, target: str) -> None:
        """The result made again (its recipe, in the long lane) and sent to ``target``."""
        recipe = self._selected_recipe()
        if recipe is not None:
            self.send_recipe.emit(recipe, target)

    def show_inputs(self) -> list[str]:
        """The folders of the result's input files, shown in the file manager (a result made
        from a panel's own picture or clip keeps it in its recipe: nothing to show)."""
        from pathlib import Path

        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        recipe = self._selected_recipe()
        if recipe is None:
            return []
        files = [f.path for f in recipe.inputs]
        if not files:
            self.message.emit("This result was made from what was in its panel (kept in its "
                              "recipe), not from files")
            return []
        folders = list(dict.fromkeys(str(Path(f).parent) for f in files))
        for folder in folders:
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
        self.message.emit("Inputs: " + ", ".join(files))
        return folders

    def reuse_selected(self) -> None:
        recipe = self._selected_recipe()
        if recipe is not None:
            self.reuse_seed.emit(recipe)

    def sweep_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.error.emit("Select a result in the history first", "")
            return
        self.sweep_recipe.emit(self.history.recipe(ids[0]))

    def copy_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.error.emit("Select a result in the history first", "")
            return
        doc = self.history.recipe(ids[0]).to_json(big_inline=True)
        QGuiApplication.clipboard().setText(json.dumps(doc, indent=2))
        self.message.emit("Copied the recipe: save it as RECIPE.json and run 'latent-studio "
                          "replay RECIPE.json'")

    def star_selected(self) -> None:
        ids = self.selected_ids()
        rows = {e.id: e for e in self.model.rows}
        on = not all(rows[i].starred for i in ids if i in rows)
        for i in ids:
            self.history.star(i, on)
        self.refresh()

    def delete_selected(self) -> None:
        for i in self.selected_ids():
            self.history.delete(i)
        self.refresh()
