"""The Sweep dialog: a result's recipe run again with one to three settings swept.

Pick the settings (seed, guidance, steps, psi, layers, vocoder, ...) and their values; the
sweep runs as one job in the long lane (progress in the status bar, cancellable), each cell
appearing as it is made: a labelled grid of pictures, or a list of sounds to play. Every
cell is a file with its own recipe (double-click opens it in its panel); the grid exports as
one labelled PNG that itself replays.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from models.tasks import sweep as sw

AXES = ("X", "Y", "Z")
CELL = 128          # the longest side a cell is shown at


def run_cells(registry: Any, recipe: Any, axes: list[sw.Axis], folder: str, *, ctx: Any
              ) -> list[tuple[tuple[str, ...], Path]]:
    """Every cell into ``folder`` (the long lane); previews are the cells done so far."""
    files = sw.run_sweep(registry, recipe, axes, folder, ctx=ctx)
    return [(values, path) for (values, _), path in zip(sw.cells(recipe, axes), files)]


class SweepDialog(QDialog):
    """One sweep of one recipe; cells open in their panel."""

    open_recipe = Signal(object)

    def __init__(self, recipe: Any, registry: Any, jobs: Any, parent: QWidget | None = None,
                 player: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sweep — {recipe.task} with {recipe.model.get('name', '')}")
        self.setObjectName("sweep-dialog")
        self.recipe, self.registry, self.jobs, self.player = recipe, registry, jobs, player
        self.sound = sw.runner.WRITES.get(recipe.task, (".png",))[0] != ".png"
        self.folder = Path(tempfile.mkdtemp(prefix="latent-studio-sweep-"))
        self.axes: list[sw.Axis] = []
        self.made: list[tuple[tuple[str, ...], Path]] = []
        lay = QVBoxLayout(self)
        names = sw.settings(recipe)
        self.rows: list[tuple[QComboBox, QLineEdit]] = []
        grid = QGridLayout()
        for i, axis in enumerate(AXES):
            combo = QComboBox()
            combo.addItem("—" if i else names[0])
            combo.addItems(names if i else names[1:])
            if i == 0 and "seed" in names:
                combo.setCurrentText("seed")
            edit = QLineEdit()
            edit.setPlaceholderText("values, e.g. 1,2,3 (rows: 0-3,4-9)")
            grid.addWidget(QLabel(f"{axis}:"), i, 0)
            grid.addWidget(combo, i, 1)
            grid.addWidget(edit, i, 2)
            self.rows.append((combo, edit))
        lay.addLayout(grid)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run sweep")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.export_button = QPushButton("Export grid…" if not self.sound else "Save cells…")
        self.export_button.setEnabled(False)
        for b in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.note = QLabel("Each cell is the recipe with the axes' values put in; it carries "
                           "its own recipe (double-click opens it in its panel).")
        self.note.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addWidget(self.note)
        if self.sound:
            self.list = QListWidget()
            self.list.itemDoubleClicked.connect(self._play_item)
            lay.addWidget(self.list, 1)
        else:
            self.cells = QWidget()
            self.cell_grid = QGridLayout(self.cells)
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setWidget(self.cells)
            lay.addWidget(area, 1)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel("sweep"))
        self.export_button.clicked.connect(self._export_dialog)
        self.finished.connect(self._closed)
        self.resize(640, 520)

    # -- running ----------------------------------------------------------------------------

    def set_axis(self, index: int, name: str, values: str) -> None:
        combo, edit = self.rows[index]
        combo.setCurrentText(name)
        edit.setText(values)

    def chosen_axes(self) -> list[sw.Axis]:
        axes = []
        for combo, edit in self.rows:
            if combo.currentText() != "—" and edit.text().strip():
                axes.append(sw.Axis.parse(f"{combo.currentText()}={edit.text()}"))
        return axes

    def run(self) -> bool:
        try:
            axes = self.chosen_axes()
            cells = sw.cells(self.recipe, axes)
        except ValueError as exc:
            self.note.setText(str(exc))
            return False
        self.axes, self.made = axes, []
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._clear()
        self.progress.setValue(0)
        self.note.setText(f"{len(cells)} cells…")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.jobs.submit("sweep", run_cells, self.registry, self.recipe, axes,
                         str(self.folder), lane="long",
                         label=f"Sweeping {len(cells)} cells",
                         on_progress=lambda f: self.progress.setValue(round(f * 1000)),
                         on_preview=self._show_done, on_result=self._finished,
                         on_error=self._failed)
        return True

    def _finished(self, done: list[tuple[tuple[str, ...], Path]]) -> None:
        self._show_done(done)
        self.progress.setValue(1000)
        self.note.setText(f"{len(done)} cells: double-click one to open it in its panel")
        self._idle()
        self.export_button.setEnabled(True)

    def _failed(self, message: str, details: str) -> None:
        self.note.setText(message)
        self._idle()

    def _idle(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # -- cells ------------------------------------------------------------------------------

    def _clear(self) -> None:
        if self.sound:
            self.list.clear()
            return
        while self.cell_grid.count():
            w = self.cell_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()

    def _show_done(self, done: list[tuple[tuple[str, ...], Path]]) -> None:
        for k in range(len(self.made), len(done)):
            values, path = done[k]
            label = ", ".join(a.label(v) for a, v in zip(self.axes, values))
            if self.sound:
                item = QListWidgetItem(f"▶ {label}")
                item.setData(Qt.ItemDataRole.UserRole, str(path))
                self.list.addItem(item)
                continue
            nx = len(self.axes[0].values)
            ny = len(self.axes[1].values) if len(self.axes) > 1 else 1
            ix, iy, iz = k % nx, (k // nx) % ny, k // (nx * ny)
            cell = CellLabel(path, label, self)
            self.cell_grid.addWidget(cell, iz * (ny + 1) + iy + 1, ix + 1)
            if iy == 0:
                self.cell_grid.addWidget(QLabel(self.axes[0].label(values[0])),
                                         iz * (ny + 1), ix + 1, Qt.AlignmentFlag.AlignCenter)
            if ix == 0 and len(self.axes) > 1:
                text = self.axes[1].label(values[1])
                if len(self.axes) > 2:
                    text = f"{self.axes[2].label(values[2])}\n{text}"
                self.cell_grid.addWidget(QLabel(text), iz * (ny + 1) + iy + 1, 0)
        self.made = list(done)

    def open_cell(self, path: Path) -> None:
        from models.recipe import RecipeError, read_recipe

        try:
            self.open_recipe.emit(read_recipe(path))
        except RecipeError as exc:
            self.note.setText(str(exc))

    def _play_item(self, item: QListWidgetItem) -> None:
        from models.audio.io import AudioFileError, read_audio

        path = Path(item.data(Qt.ItemDataRole.UserRole))
        if self.player is None:
            self.open_cell(path)
            return
        try:
            clip = read_audio(path)
            self.player.play(clip.audio, clip.rate)
        except (AudioFileError, RuntimeError) as exc:
            self.note.setText(str(exc))

    # -- export -----------------------------------------------------------------------------

    def _export_dialog(self) -> None:
        if self.sound:
            folder = QFileDialog.getExistingDirectory(self, "Save the cells to a folder")
            if folder:
                self.save_cells(folder)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export grid", "sweep.png",
                                              "PNG (*.png)")
        if path:
            self.export_grid(path if path.lower().endswith(".png") else path + ".png")

    def export_grid(self, path: str) -> Path | None:
        """The cells as one labelled PNG carrying the sweep's recipe (it replays)."""
        if not self.made or self.sound:
            return None
        try:
            out = sw.write_grid([p for _, p in self.made], [v for v, _ in self.made],
                                self.axes, Path(path), sw.sweep_recipe(self.recipe, self.axes))
        except (OSError, ValueError) as exc:
            from models.files import os_error_words

            self.note.setText(os_error_words(exc, path) if isinstance(exc, OSError)
                              else str(exc))
            return None
        self.note.setText(f"Exported {out}")
        return out

    def save_cells(self, folder: str) -> list[Path]:
        """Each cell (with its recipe) into ``folder``, each written whole or not at all."""
        from models.files import os_error_words, write_whole

        out = []
        for _, p in self.made:
            target = Path(folder) / p.name
            try:
                write_whole(target, p.read_bytes())
            except OSError as exc:
                self.note.setText(os_error_words(exc, target))
                return out
            out.append(target)
        self.note.setText(f"Saved {len(out)} cells to {folder}")
        return out

    def done_pictures(self) -> list[np.ndarray]:
        from PIL import Image

        return [np.asarray(Image.open(p).convert("RGB")) for _, p in self.made]

    def _closed(self, _result: int = 0) -> None:
        """Closed: its sweep stops, its cells (kept in a scratch folder) go."""
        if self.cancel_button.isEnabled():
            self.jobs.cancel("sweep")
        shutil.rmtree(self.folder, ignore_errors=True)


class CellLabel(QLabel):
    """One picture cell; double-click opens its recipe in its panel."""

    def __init__(self, path: Path, label: str, dialog: SweepDialog) -> None:
        super().__init__()
        self.path, self.dialog = path, dialog
        pix = QPixmap(str(path))
        if max(pix.width(), pix.height()) > CELL or max(pix.width(), pix.height()) < CELL // 2:
            pix = pix.scaled(CELL, CELL, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.FastTransformation)
        self.setPixmap(pix)
        self.setToolTip(f"{label}\n{path.name}: double-click to open it in its panel")

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.dialog.open_cell(self.path)
