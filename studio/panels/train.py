"""Train panel: a model of your own pictures, trained while the rest of the studio stays live.

The training runs as a separate process (``latent-studio train vae … --events``): its JSON
lines drive the loss curves, the sample grid and the snapshot list; the window's thread
only reads them (bench/train_ui.py measures the window's largest gap either way). Pause and
Stop send SIGTERM: the trainer writes a snapshot of its last whole step and ends; Resume
starts it again from that snapshot, which ends where a run never paused would have.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QProcess, QProcessEnvironment, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from models.protocol import BackendInfo
from studio import dialogs
from studio.panels import register_panel
from studio.panels.base import Panel, StudioContext

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = (("vae", "VAE (latent space to explore)"),)


def runs_dir() -> Path:
    """Where trainings keep their models and snapshots: $LATENT_STUDIO_RUNS, else
    ~/.local/share/latent-studio/runs."""
    env = os.environ.get("LATENT_STUDIO_RUNS")
    return Path(env) if env else Path.home() / ".local" / "share" / "latent-studio" / "runs"


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@register_panel
class TrainPanel(Panel):
    name = "train"
    title = "Train"

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self.sources: list[str] = []
        self.scan: Any = None
        self.proc: QProcess | None = None
        self.run_folder: Path | None = None
        self.mode = "idle"             # idle, scanning, training, pausing, paused, stopping
        self.events: list[dict] = []
        self.steps: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.snapshots: list[Path] = []
        self.result: dict | None = None
        self.err_tail = ""
        self.out_buffer = b""
        self.started = 0.0
        self.device = "the CPU"
        # More of the trainer's options (e.g. ["--max-steps", "60"]), for scripted runs.
        self.extra_args: list[str] = []
        self.model_name = ""           # the last model this panel registered
        self.paused_from_session: int | None = None
        self.snapshot_step = 0

        # -- pictures ------------------------------------------------------------------
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("A folder of your pictures (or drop one here)")
        self.folder_edit.returnPressed.connect(lambda: self.set_sources(
            [self.folder_edit.text()]))
        self.folder_button = QPushButton("Choose Folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        top = QHBoxLayout()
        top.addWidget(QLabel("Pictures:"))
        top.addWidget(self.folder_edit, 1)
        top.addWidget(self.folder_button)

        # -- settings ------------------------------------------------------------------
        self.family_combo = QComboBox()
        for key, label in FAMILIES:
            self.family_combo.addItem(label, key)
        self.size_combo = QComboBox()
        for s in (64, 128, 256):
            self.size_combo.addItem(f"{s} × {s}", s)
        self.color_combo = QComboBox()
        self.color_combo.addItem("RGB", "rgb")
        self.color_combo.addItem("Gray", "gray")
        self.fit_combo = QComboBox()
        self.fit_combo.addItem("Centre crop", "crop")
        self.fit_combo.addItem("Whole picture, padded", "pad")
        self.flips_check = QCheckBox("Add mirrored copies")
        self.augment_check = QCheckBox("Mirror and shift while training")
        self.augment_check.setChecked(True)
        self.augment_check.setToolTip("Each batch: half the pictures mirrored, each moved by "
                                      "up to 4 pixels (less overfitting on a small set)")
        self.minutes_spin = QDoubleSpinBox()
        self.minutes_spin.setRange(0.5, 600)
        self.minutes_spin.setValue(10)
        self.minutes_spin.setSuffix(" min")
        self.snapshot_spin = QDoubleSpinBox()
        self.snapshot_spin.setRange(0.1, 60)
        self.snapshot_spin.setValue(2)
        self.snapshot_spin.setSuffix(" min")
        self.init_combo = QComboBox()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-pictures")
        for w in (self.size_combo, self.color_combo, self.fit_combo):
            w.currentIndexChanged.connect(self._refresh_inits)
        form = QFormLayout()
        form.addRow("Family", self.family_combo)
        form.addRow("Size", self.size_combo)
        form.addRow("Colour", self.color_combo)
        form.addRow("Fit", self.fit_combo)
        form.addRow("", self.flips_check)
        form.addRow("", self.augment_check)
        form.addRow("Budget", self.minutes_spin)
        form.addRow("Snapshot every", self.snapshot_spin)
        form.addRow("Start from", self.init_combo)
        form.addRow("Name", self.name_edit)

        # -- data preview --------------------------------------------------------------
        self.summary_label = QLabel("Choose a folder to see what will be used.")
        self.summary_label.setWordWrap(True)
        self.thumbs = QListWidget()
        self.thumbs.setObjectName("train-thumbnails")
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(48, 48))
        self.thumbs.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.thumbs.setMinimumHeight(120)
        self.dropped_list = QListWidget()
        self.dropped_list.setObjectName("train-dropped")
        self.dropped_list.setMaximumHeight(110)

        # -- controls ------------------------------------------------------------------
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.summary_label)
        left.addWidget(self.thumbs, 1)
        left.addWidget(QLabel("Not used:"))
        left.addWidget(self.dropped_list)
        left.addLayout(buttons)

        # -- progress ------------------------------------------------------------------
        self.status_label = QLabel("")
        self.status_label.setObjectName("train-status")
        self.status_label.setWordWrap(True)
        self.loss_plot = pg.PlotWidget(background="w", title="Training loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.val_plot = pg.PlotWidget(background="w", title="Held-out reconstruction MSE")
        self.val_plot.setLabel("bottom", "step")
        self.val_plot.showGrid(x=True, y=True, alpha=0.3)
        self.val_curve = self.val_plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="o",
                                            symbolSize=5)
        for p in (self.loss_plot, self.val_plot):
            p.setMinimumHeight(130)
        self.samples_label = QLabel("Samples appear at each snapshot.")
        self.samples_label.setObjectName("train-samples")
        self.samples_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.samples_label.setMinimumHeight(140)
        self.samples_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                         QSizePolicy.Policy.Ignored)
        self.snapshot_list = QListWidget()
        self.snapshot_list.setObjectName("train-snapshots")
        self.snapshot_list.setMaximumHeight(90)
        self.snapshot_list.currentRowChanged.connect(self._show_snapshot)
        self.use_button = QPushButton("Use This Snapshot")
        self.use_button.setToolTip("Register the selected snapshot as a model every panel "
                                   "can use")
        self.use_button.clicked.connect(self.use_snapshot)
        right = QVBoxLayout()
        right.addWidget(self.status_label)
        right.addWidget(self.loss_plot, 2)
        right.addWidget(self.val_plot, 1)
        right.addWidget(self.samples_label, 2)
        right.addWidget(QLabel("Snapshots:"))
        right.addWidget(self.snapshot_list)
        right.addWidget(self.use_button)
        self.set_columns(top, left, right, stretch=(2, 3))
        self._refresh_inits()
        self._update_buttons()

    # -- pictures ------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = dialogs.folder(self, "pictures", "Folder of Pictures to Train On")
        if folder:
            self.set_sources([folder])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.set_sources(paths)

    def open_file(self, path: str) -> None:
        self.set_sources([path])

    def set_sources(self, paths: list[str]) -> None:
        """Scan ``paths`` (folders read recursively) in the long lane and show what will be
        used and what not, and why."""
        paths = [p for p in (str(Path(p).expanduser()) for p in paths if p.strip())]
        if not paths:
            return
        if self.mode in ("training", "pausing", "stopping"):
            self.message.emit("Training is running: stop it before choosing other pictures")
            return
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            self.error.emit(f"{missing[0]}: no such file or folder", "")
            return
        self.sources = paths
        self.folder_edit.setText("; ".join(paths))
        if not self.name_edit.text():
            self.name_edit.setText(Path(paths[0]).name or "my-pictures")
        self.mode, self.scan = "scanning", None
        self.summary_label.setText("Reading the pictures…")
        self.thumbs.clear()
        self.dropped_list.clear()
        self._update_buttons()
        self.ctx.jobs.submit("train-scan", _scan, paths, lane="long",
                             label="Reading your pictures", on_result=self._scanned,
                             on_error=self._scan_failed)

    def _scan_failed(self, message: str, details: str) -> None:
        self.mode = "idle"
        self.summary_label.setText(message)
        self._update_buttons()
        self.error.emit(message, details)

    def _scanned(self, result: tuple[Any, np.ndarray]) -> None:
        scanned, thumbs = result
        self.mode, self.scan = "idle", scanned
        s = scanned.summary()
        if s["pictures"]:
            sizes = (f"; from {s['smallest'][0]}×{s['smallest'][1]} to "
                     f"{s['largest'][0]}×{s['largest'][1]} pixels")
        else:
            sizes = ""
        why = ", ".join(f"{n} {k}" for k, n in s["why"].items())
        held = max(1, round(0.1 * s["pictures"])) if s["pictures"] > 1 else 0
        self.summary_label.setText(
            f"<b>{s['pictures']}</b> pictures will be used{sizes}; about {held} held out "
            f"to measure on. {s['dropped']} not used" + (f" ({why})." if why else "."))
        for i, rgb in enumerate(thumbs):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(_qimage(rgb))), "")
            item.setToolTip(scanned.kept[i].path)
            self.thumbs.addItem(item)
        for d in scanned.dropped:
            self.dropped_list.addItem(f"{Path(d.path).name}: {d.why}")
        self._scanned_after_restore()
        self._update_buttons()

    # -- models to start from ------------------------------------------------------------
    def _refresh_inits(self) -> None:
        keep = self.init_combo.currentData()
        self.init_combo.blockSignals(True)
        self.init_combo.clear()
        self.init_combo.addItem("Scratch (a new model)", "")
        size = self.size_combo.currentData()
        channels = 1 if self.color_combo.currentData() == "gray" else 3
        for info in self.ctx.registry.infos():
            if info.family == "vae" and tuple(info.image_shape or ()) == (size, size, channels):
                self.init_combo.addItem(f"Fine-tune {info.name}", info.name)
        i = self.init_combo.findData(keep)
        self.init_combo.setCurrentIndex(max(0, i))
        self.init_combo.blockSignals(False)

    def backend_changed(self) -> None:
        self._refresh_inits()

    # -- the training process ------------------------------------------------------------
    def arguments(self, resume: bool = False) -> list[str]:
        """The command line of this training (without the program)."""
        assert self.run_folder is not None
        args = ["-m", "studio", "train", self.family_combo.currentData(), "--images",
                *self.sources, "--size", str(self.size_combo.currentData()),
                "--fit", self.fit_combo.currentData(),
                "--minutes", f"{self.minutes_spin.value():g}",
                "--snapshot-minutes", f"{self.snapshot_spin.value():g}",
                "--out", str(self.run_folder), "--events"]
        if self.color_combo.currentData() == "gray":
            args.append("--gray")
        if self.flips_check.isChecked():
            args.append("--flips")
        if self.augment_check.isChecked():
            args += ["--augment", "4"]
        init = self.init_combo.currentData()
        if init:
            args += ["--init", str(self.ctx.registry.info(init).path)]
        if resume:
            args += ["--resume", str(self.run_folder / "snapshots")]
        return args + self.extra_args

    def start(self) -> None:
        if self.scan is None or not self.scan.kept:
            self.message.emit("Choose a folder with pictures first")
            return
        if len(self.scan.kept) < 4:
            self.error.emit(f"Only {len(self.scan.kept)} usable pictures: a model needs at "
                            "least 4 (see what was not used, and why)", "")
            return
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in
                       (self.name_edit.text().strip() or "my-pictures"))
        base = runs_dir() / name
        folder, k = base, 2
        while folder.exists():
            folder, k = base.with_name(f"{name}-{k}"), k + 1
        self.run_folder = folder
        self.steps, self.val, self.snapshots, self.result = [], [], [], None
        self.snapshot_step = 0
        self.snapshot_list.clear()
        self.loss_curve.setData([], [])
        self.val_curve.setData([], [])
        self.samples_label.setText("Samples appear at each snapshot.")
        self._launch(resume=False)

    def _launch(self, resume: bool) -> None:
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(ROOT))
        proc.readyReadStandardOutput.connect(self._read_out)
        proc.readyReadStandardError.connect(self._read_err)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._process_error)
        self.proc, self.err_tail, self.out_buffer = proc, "", b""
        self.mode, self.started = "training", time.monotonic()
        self.status_label.setText("Preparing the pictures…")
        proc.start(sys.executable, self.arguments(resume))
        self._update_buttons()

    def pause(self) -> None:
        """Snapshot and stop; Resume goes on from here."""
        if self.proc is not None and self.mode == "training":
            self.mode = "pausing"
            self.status_label.setText("Pausing: writing a snapshot…")
            self.proc.terminate()
            self._update_buttons()

    def resume(self) -> None:
        if self.mode == "paused" and self.run_folder is not None:
            self._launch(resume=True)

    def stop(self) -> None:
        """End the training; the last snapshot becomes the model."""
        if self.proc is not None and self.mode == "training":
            self.mode = "stopping"
            self.status_label.setText("Stopping: writing a snapshot…")
            self.proc.terminate()
            self._update_buttons()
        elif self.mode == "paused":
            self.mode = "idle"
            self._use_latest()
            self._update_buttons()

    def _read_err(self) -> None:
        if self.proc is not None:
            text = bytes(self.proc.readAllStandardError()).decode(errors="replace")
            self.err_tail = (self.err_tail + text)[-4000:]

    def _read_out(self) -> None:
        if self.proc is None:
            return
        self.out_buffer += bytes(self.proc.readAllStandardOutput())
        *lines, self.out_buffer = self.out_buffer.split(b"\n")
        changed = False
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                changed |= self.on_event(event)
        if changed:
            self._redraw()

    def on_event(self, e: dict) -> bool:
        """One event of the trainer; True when the curves changed."""
        self.events.append(e)
        if "loss" in e and "step" in e:
            self.steps.append((int(e["step"]), float(e["loss"])))
            total, secs = e.get("total") or 0, float(e.get("seconds", 0))
            left = (f", about {_clock(secs / e['step'] * (total - e['step']))} left"
                    if total else ", timing the first steps")
            self.status_label.setText(
                f"Training on {self.device}: step {e['step']}"
                f"{f' of {total}' if total else ''}, {_clock(secs)} elapsed{left}")
            return True
        if "val_mse" in e:
            self.val.append((int(e["step"]), float(e["val_mse"])))
            return True
        if "device" in e:
            self.device = "the GPU (" + e["device"] + ")" if e["device"] != "cpu" else "the CPU"
        elif "snapshot" in e:
            path = Path(e["snapshot"])
            self.snapshots.append(path)
            self.snapshot_step = int(e["step"])
            self.snapshot_list.addItem(f"step {e['step']}  ({path.name})")
            self.snapshot_list.setCurrentRow(self.snapshot_list.count() - 1)
        elif "weights" in e:
            self.result = e
        return False

    def _redraw(self) -> None:
        if self.steps:
            s = np.array(self.steps)
            self.loss_curve.setData(s[:, 0], s[:, 1])
        if self.val:
            v = np.array(self.val)
            self.val_curve.setData(v[:, 0], v[:, 1])

    def _show_picture(self, path: Path) -> None:
        image = QImage(str(path))
        if image.isNull():
            return
        w = max(200, self.samples_label.width())
        h = max(140, self.samples_label.height())
        # Whole multiples of the grid's size (sharp pixels, every gutter kept); smaller
        # than the grid only when the label is.
        k = min(w / image.width(), h / image.height())
        k = int(k) if k >= 1 else k
        self.samples_label.setPixmap(QPixmap.fromImage(image).scaled(
            round(image.width() * k), round(image.height() * k),
            Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))

    def _show_snapshot(self, row: int) -> None:
        if 0 <= row < len(self.snapshots):
            self._show_picture(self.snapshots[row] / "samples.png")

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.mode = "idle"
            self.error.emit(f"The trainer did not start ({sys.executable})", "")
            self._update_buttons()

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read_out()
        self._read_err()
        was, self.proc = self.mode, None
        if code == 0 and self.result is not None:
            self.mode = "idle"
            m = self.result.get("metrics", {})
            ratio = m.get("vae_over_pca_mse")
            self.status_label.setText(
                f"Done in {_clock(m.get('train_seconds', 0))}: {m.get('steps', '?')} steps; "
                f"held-out MSE {m.get('test_mse_vae', '?')} against PCA's "
                f"{m.get('test_mse_pca', '?')}" + (f" ({ratio}×)." if ratio else "."))
            final = Path(self.result["weights"]).parent
            grid = (final / "snapshots" / "final-samples.png")
            if grid.is_file():
                self._show_picture(grid)
            self.register_checkpoint(self.result["weights"])
        elif code == 3 and was == "pausing":
            self.mode = "paused"
            self.status_label.setText(f"Paused at step {self._last_step()}; Resume goes on "
                                      "from the snapshot.")
        elif code == 3:
            self.mode = "idle"
            self.status_label.setText(f"Stopped at step {self._last_step()}.")
            self._use_latest()
        else:
            self.mode = "idle"
            lines = [ln for ln in self.err_tail.splitlines() if ln.strip()]
            said = lines[-1] if lines else f"the trainer ended with code {code}"
            said = said.removeprefix("latent-studio: error: ")
            self.status_label.setText(f"Training failed: {said}")
            self.error.emit(f"Training failed: {said}", self.err_tail)
        self._update_buttons()

    def _last_step(self) -> int:
        return max(self.steps[-1][0] if self.steps else 0, self.snapshot_step)

    def _use_latest(self) -> None:
        if self.run_folder is None:
            return
        from models.train.loop import latest

        snap = latest(self.run_folder / "snapshots")
        if snap is not None:
            self.register_checkpoint(str(snap / "model.safetensors"))

    def use_snapshot(self) -> None:
        row = self.snapshot_list.currentRow()
        if 0 <= row < len(self.snapshots):
            self.register_checkpoint(str(self.snapshots[row] / "model.safetensors"))
        else:
            self.message.emit("No snapshot selected")

    def register_checkpoint(self, path: str, then=None) -> None:
        def said(info: BackendInfo) -> None:
            self.model_name = info.name
            self.message.emit(f"{info.name} is ready in every panel that uses a VAE")
            if then is not None:
                then(info)

        super().register_checkpoint(path, said)

    def _update_buttons(self) -> None:
        running = self.mode in ("training", "pausing", "stopping")
        ready = self.scan is not None and bool(self.scan.kept)
        self.start_button.setEnabled(ready and self.mode == "idle")
        self.pause_button.setEnabled(self.mode == "training")
        self.resume_button.setEnabled(self.mode == "paused")
        self.stop_button.setEnabled(self.mode in ("training", "paused"))
        for w in (self.folder_button, self.folder_edit, self.family_combo, self.size_combo,
                  self.color_combo, self.fit_combo, self.flips_check, self.augment_check,
                  self.minutes_spin,
                  self.snapshot_spin, self.init_combo, self.name_edit):
            w.setEnabled(not running and self.mode != "paused")

    def is_busy(self) -> bool:
        return self.mode in ("training", "pausing", "stopping", "paused")

    def shutdown(self) -> None:
        """Closing the studio pauses a running training (its snapshot stays to resume)."""
        if self.proc is not None:
            self.proc.terminate()
            if not self.proc.waitForFinished(15000):
                self.proc.kill()
                self.proc.waitForFinished(2000)
            self.proc = None
        super().shutdown()

    def state(self) -> dict[str, Any]:
        return {"sources": self.sources, "size": self.size_combo.currentData(),
                "color": self.color_combo.currentData(), "fit": self.fit_combo.currentData(),
                "flips": self.flips_check.isChecked(), "minutes": self.minutes_spin.value(),
                "augment": self.augment_check.isChecked(),
                "name": self.name_edit.text(),
                # A run not finished (paused, or training when the studio closed: closing
                # pauses it) can be resumed when the session opens again.
                "run": str(self.run_folder) if self.run_folder is not None and (
                    self.mode != "idle") else ""}

    def restore_state(self, state: dict[str, Any]) -> None:
        for combo, key in ((self.size_combo, "size"), (self.color_combo, "color"),
                           (self.fit_combo, "fit")):
            i = combo.findData(state.get(key))
            if i >= 0:
                combo.setCurrentIndex(i)
        self.flips_check.setChecked(bool(state.get("flips")))
        self.augment_check.setChecked(bool(state.get("augment", True)))
        self.minutes_spin.setValue(float(state.get("minutes", 10)))
        self.name_edit.setText(str(state.get("name", "")))
        sources = [p for p in state.get("sources", []) if Path(p).exists()]
        if sources:
            self.set_sources(sources)
        run = Path(state["run"]) if state.get("run") else None
        if run is not None and self.mode == "scanning":
            from models.train.loop import latest

            snap = latest(run / "snapshots")
            if snap is not None:       # its step is in its name: no state read on this thread
                self.run_folder = run
                self.paused_from_session = int(snap.name.removeprefix("step-"))
                self.snapshots = [snap]
                self.snapshot_list.addItem(f"step {self.paused_from_session}  ({snap.name})")
                self._show_picture(snap / "samples.png")

    def _scanned_after_restore(self) -> None:
        if self.paused_from_session is not None:
            self.mode = "paused"
            self.status_label.setText(f"Paused at step {self.paused_from_session} (in an "
                                      "earlier session); Resume goes on from its snapshot.")
            self.paused_from_session = None


def _scan(paths: list[str], *, ctx) -> tuple[Any, np.ndarray]:
    from models.data import user_set as us

    scanned = us.scan(paths, ctx=ctx)
    return scanned, us.thumbnails(scanned)
