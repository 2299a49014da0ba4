"""Spectrogram editor: record or open speech, paint on its mel spectrogram, vocode it back.

The clip is analysed with the selected vocoder's own mel settings (from its BackendInfo).
Edits are operations (models.audio.edits) kept in a list and pushed on the undo stack, so a
session replays them. Vocoding runs in the job runner; recording and playback run in
PortAudio's threads (studio.audio), polled by a timer for the level meter and the cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from models.audio import edits
from models.audio.features import linear_db, mel_frequencies, mel_to_db
from models.audio.io import AudioFileError, fit_length, read_audio, resample, write_wav
from models.protocol import BackendInfo, Capability, JobContext, MelSettings, VocodeRequest
from models.tasks.audio import analyse_clip
from models.tasks.audio import vocode as vocode_request
from studio import audio, dialogs
from studio.panels import register_panel
from studio.panels.base import Panel, StudioContext
from studio.state.spectral import ClipState, SpectralState
from studio.widgets.model_combo import ModelCombo
from studio.widgets.params import ParamsRow
from studio.widgets.spectrogram import SpectrogramView

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.oga *.aiff *.aif);;All files (*)"
TOOLS = ("pan", "brush", "eraser", "select")
TOP_DB = 80.0
BRUSH_SIZE, BRUSH_GAIN_DB = 6, 18     # the brush's defaults (bins, dB)
LIVE_S = 10.0          # seconds of a take shown live while recording
EMPTY_S = 5.0          # seconds the time axis spans before there is a clip


def write_clips(clips: list[tuple[Path, np.ndarray, int, Any]]) -> list[Path]:
    """Write each (path, audio, rate, recipe or None) as WAV (an io job)."""
    return [write_wav(p, a, r, recipe=recipe) for p, a, r, recipe in clips]


class EditCommand(QUndoCommand):
    """One spectrogram edit on the undo stack."""

    def __init__(self, panel: SpectralPanel, op: dict[str, Any]) -> None:
        super().__init__(f"{op['op'].capitalize()}")
        self.panel, self.op = panel, op

    def redo(self) -> None:
        self.panel.doc.push_op(self.op)

    def undo(self) -> None:
        self.panel.doc.pop_op()


class ClipCommand(QUndoCommand):
    """Replacing the clip (a take, an opened file): one undo brings the old clip back with
    its edits and its vocoded result, and the session counts as changed."""

    def __init__(self, panel: SpectralPanel, new: ClipState, text: str) -> None:
        super().__init__(text)
        self.panel, self.new, self.old = panel, new, panel.doc.snapshot()

    def redo(self) -> None:
        self.panel.restore_clip(self.new)

    def undo(self) -> None:
        self.panel.restore_clip(self.old)


@register_panel
class SpectralPanel(Panel):
    name = "spectral"
    title = "Spectrogram"
    open_filter = AUDIO_FILTER

    clip_changed = Signal()
    vocoded = Signal()

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        # The clip, its edits and result live in a Qt-free state; this view listens to it.
        self.doc = SpectralState()
        self.last_timing: dict[str, float] = {}
        self._stroke_preview: dict[str, Any] | None = None
        self._stop_time = 0.0
        self._polls = 0
        self._linear: tuple[np.ndarray, np.ndarray] | None = None   # (audio, its linear dB)
        self._replaying = False
        self._play_after_vocode = False
        self.result_recipe: Any = None     # the recipe of the result of a full vocode
        self._closed = False
        self.player = audio.player()
        self.recorder = audio.Recorder()
        self._build_ui()
        for event, handler in (("clip", self._on_doc_clip), ("mel", self._on_doc_mel),
                               ("result", self._update_enabled),
                               ("selection", self._on_doc_selection),
                               ("cursor", self._on_doc_cursor),
                               ("listening", self._on_doc_listening)):
            self.doc.events.connect(event, handler)
        self._refresh_vocoders()
        self._poll = QTimer(self)
        self._poll.setInterval(30)
        self._poll.timeout.connect(self._on_poll)
        self._poll.start()
        QTimer.singleShot(0, self.prearm)

    # --- layout ------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        bar = QGridLayout()
        root.addLayout(bar)

        self.open_btn = QPushButton("Open…")
        self.open_btn.clicked.connect(self._choose_file)
        self.device_combo = QComboBox()
        self.device_combo.setMinimumWidth(160)
        self.device_combo.setToolTip("Input device for recording")
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        self.rescan_btn = QToolButton(text="⟳")
        self.rescan_btn.setToolTip("Look for input devices again")
        self.rescan_btn.clicked.connect(self._rescan_devices)
        self.record_btn = QPushButton("● Record")
        self.record_btn.setCheckable(True)
        self.record_btn.toggled.connect(self._toggle_record)
        self.vocode_on_stop = QCheckBox("Vocode && play on stop")
        self.vocode_on_stop.setToolTip("Record-and-vocode: when you stop recording, analyse, "
                                       "vocode and play the result")
        self.meter = QProgressBar()
        self.meter.setRange(-60, 0)
        self.meter.setValue(-60)
        self.meter.setFormat("%v dB")
        self.meter.setMaximumWidth(140)
        self.elapsed = QLabel("0.0 s")
        row = QHBoxLayout()
        self.export_btn = QPushButton("Export…")
        self.export_btn.clicked.connect(self.export)
        for w in (self.open_btn, self.export_btn, QLabel("Input:"), self.device_combo,
                  self.rescan_btn, self.record_btn, self.meter, self.elapsed,
                  self.vocode_on_stop):
            row.addWidget(w)
        row.addStretch(1)
        bar.addLayout(row, 0, 0)

        self.play_btn = QPushButton("▶ Play")
        self.play_btn.clicked.connect(self.toggle_play)
        self.play_btn.setToolTip("Play or stop (Space)")
        self.loop_box = QCheckBox("Loop selection")
        self.ab_a = QToolButton(text="A: original")
        self.ab_b = QToolButton(text="B: vocoded")
        for b in (self.ab_a, self.ab_b):
            b.setCheckable(True)
        self.ab_a.setChecked(True)
        self.ab_group = QButtonGroup(self)
        self.ab_group.addButton(self.ab_a)
        self.ab_group.addButton(self.ab_b)
        self.ab_group.setExclusive(True)
        self.ab_group.buttonClicked.connect(lambda b: self.set_listening(
            "A" if b is self.ab_a else "B"))
        self.vocoder_combo = ModelCombo("Vocoders: the source-filter vocoder, the shipped "
                                        "neural vocoders, Griffin-Lim and checkpoints you open")
        self.vocoder_combo.currentIndexChanged.connect(self._vocoder_chosen)
        # The chosen vocoder's own settings (Griffin-Lim's iterations), from its card.
        self.params = ParamsRow()
        self.vocode_btn = QPushButton("Vocode all")
        self.vocode_btn.clicked.connect(lambda: self.vocode(region=False))
        self.region_btn = QPushButton("Vocode edits")
        self.region_btn.setToolTip("Vocode only the frames edited since the last vocode, "
                                   "crossfaded into the result")
        self.region_btn.clicked.connect(lambda: self.vocode(region=True))
        row = QHBoxLayout()
        for w in (self.play_btn, self.loop_box, self.ab_a, self.ab_b, QLabel("Vocoder:"),
                  self.vocoder_combo, self.vocode_btn, self.region_btn):
            row.addWidget(w)
        row.addStretch(1)
        bar.addLayout(row, 1, 0)

        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        row = QHBoxLayout()
        row.addWidget(QLabel("Tool:"))
        for tool, text, key in (("pan", "Zoom/pan", "V"), ("brush", "Brush", "B"),
                                ("eraser", "Eraser", "E"), ("select", "Select", "S")):
            b = QToolButton(text=text)
            b.setCheckable(True)
            self.add_shortcut(key, lambda t=tool: self.set_tool(t), f"Spectrogram tool: {text}")
            b.setToolTip(f"{text} ({key})")
            self.tool_group.addButton(b)
            self.tool_buttons[tool] = b
            b.clicked.connect(lambda _=False, t=tool: self.set_tool(t))
            row.addWidget(b)
        self.tool_buttons["pan"].setChecked(True)
        # Defaults a first stroke can be seen with, on speech and on silence alike: a
        # brush adds energy (18 dB is 22% of the 80 dB colour range; the eraser takes it
        # away), 6 bins wide with a soft edge.
        self.size_spin = self._spin(row, "size", 1, 40, BRUSH_SIZE, " bins", 1)
        self.soft_spin = self._spin(row, "soft", 0, 1, 0.5, "", 0.1)
        self.gain_spin = self._spin(row, "gain", -60, 30, BRUSH_GAIN_DB, " dB", 1)
        self.view_combo = QComboBox()
        self.view_combo.addItems(["Mel", "Linear"])
        self.view_combo.currentIndexChanged.connect(self._view_changed)
        row.addWidget(QLabel("View:"))
        row.addWidget(self.view_combo)
        row.addStretch(1)
        bar.addLayout(row, 2, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Selection:"))
        self.selection_buttons: list[QPushButton] = []
        for text, slot in (("Apply gain", self.gain_selection), ("Delete", self.delete_selection),
                           ("Copy", self.copy_selection), ("Paste", self.paste)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.selection_buttons.append(b)
        row.addStretch(1)
        # The vocoder's own settings, at the end of a short row: the window stays within
        # 1000 pixels whichever vocoder is chosen.
        row.addWidget(self.params)
        bar.addLayout(row, 3, 0)

        self.plot = SpectrogramView()
        self.image, self.playhead = self.plot.image, self.plot.playhead
        self.sel_item, self.empty_text = self.plot.sel_item, self.plot.empty_text
        self.image.stroke.connect(self._on_stroke)
        self.image.rect_drag.connect(self._on_rect_drag)
        self.image.clicked.connect(self._on_click)
        self.image.hovered.connect(self._on_hover)
        root.addWidget(self.plot, 1)

        self.readout = QLabel("Open or record a clip. Wheel zooms, drag pans; B brush, "
                              "E eraser, S select.")
        self.readout.setObjectName("readout")
        self.info_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.readout, 1)
        row.addWidget(self.info_label)
        root.addLayout(row)
        self.add_shortcut("Space", self.toggle_play, "Play or stop (A or B)")
        self.add_shortcut("Delete", self.delete_selection, "Delete the selection")
        self.add_shortcut("Ctrl+C", self.copy_selection, "Copy the selection")
        self.add_shortcut("Ctrl+V", self.paste, "Paste at the play cursor")
        self._refresh_devices()
        self._update_enabled()
        self._show_empty()

    def _spin(self, row: QHBoxLayout, label: str, lo: float, hi: float, value: float,
              suffix: str, step: float) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setValue(value)
        s.setSuffix(suffix)
        s.setDecimals(1)
        row.addWidget(QLabel(label))
        row.addWidget(s)
        return s

    # --- models and devices ------------------------------------------------------------------

    def _vocoder_infos(self) -> list[BackendInfo]:
        return self.ctx.registry.infos(Capability.VOCODE)

    def _refresh_vocoders(self) -> None:
        infos = self._vocoder_infos()
        # The measured default (models/registry.py: default), not the weightless baseline.
        self.vocoder_combo.set_models(infos, self.vocoder_combo.current_name
                                      or self.ctx.registry.default(Capability.VOCODE))
        self._vocoder_chosen()

    @property
    def vocoder_name(self) -> str:
        return self.vocoder_combo.current_name

    def set_vocoder(self, name: str) -> None:
        self.vocoder_combo.select(name)

    def restore_recipe(self, recipe: Any, note: str = "") -> None:
        """A vocoding's recipe: its vocoder and settings chosen, and the recording it was
        made from opened (a 'latent-studio vocode'); a take vocoded here keeps its edited mel
        in the recipe, which 'latent-studio replay' vocodes again."""
        from models.tasks import runner

        if recipe.task not in ("vocode", "vocode-mel", "spectrogram"):
            self.error.emit(f"a {recipe.task} is not made in the Spectrogram", "")
            return
        self.ctx.jobs.submit(f"{self.name}-restore",
                             lambda *, ctx: runner.model_for(self.ctx.registry, recipe),
                             lane="io", label="Opening the recipe's vocoder",
                             on_result=lambda name: self._restored(recipe, name, note),
                             on_error=self.error.emit)

    def _restored(self, recipe: Any, name: str, note: str) -> None:
        if name not in self.vocoder_combo.names():     # opened from the recipe's path
            self.models_changed.emit()
        self._refresh_vocoders()
        self.set_vocoder(name)
        for key, value in dict(recipe.params.get("params", {})).items():
            self.params.set_value(key, value)
        audio = [f.path for f in recipe.inputs if f.role == "audio"]
        if audio:
            self.open_file(audio[0])
        self.message.emit(f"Restored {name} and its settings" + (
            f" with {Path(audio[0]).name}" if audio else
            "; the edited mel is in the recipe: 'latent-studio replay' vocodes it again"))
        if note:
            self.error.emit(f"Restored, but {note}", "")

    def _vocoder_chosen(self, _index: int = 0) -> None:
        name = self.vocoder_name
        if not name:
            return
        info = self.ctx.registry.info(name)
        self.params.set_specs(info.params)
        mel = info.mel or MelSettings()
        if mel == self.mel_settings:
            return
        if self.ops:
            self.error.emit(f"{name} analyses with other settings ({mel.sample_rate} Hz, hop "
                            f"{mel.hop}, {mel.n_mels} bands); your edits stay with the "
                            "analysis they were made on. Clear the edits (undo) to switch.", "")
            old = next((i.name for i in self._vocoder_infos() if i.mel == self.mel_settings),
                       None)
            if old is not None:
                self.vocoder_combo.select(old, quiet=True)
            return
        self.doc.settings = mel
        self.prearm()
        if not self.original.size:
            return
        # From the clip as it was recorded or read, not from an earlier resampling; in the
        # runner, since a long clip takes a while to resample and analyse.
        src, src_rate = self.doc.source

        def done(out) -> None:
            audio_, mel0, used = out
            if used == self.mel_settings:
                self.doc.set_clip((src, src_rate), audio_, mel0, used)

        self.ctx.jobs.submit(f"{self.name}-analyse", analyse_clip, self.ctx.registry, name,
                             src, src_rate, lane="interactive",
                             label=f"Analysing for {name}", on_result=done,
                             on_error=self.error.emit)

    def backend_changed(self) -> None:
        self._refresh_vocoders()

    def _device_chosen(self, _index: int) -> None:
        if not self.recorder.recording:
            self.recorder.disarm()
            self.prearm()

    def prearm(self) -> None:
        """Open the chosen input now, so that a take starts when Record is pressed (a sound
        server can take seconds to deliver a new stream's first block). Quiet when there is
        no input: Record says so when pressed."""
        device = self.device_combo.currentData()
        if device is None or self.recorder.recording or self._closed:
            return
        try:
            self.recorder.arm(self.rate, device)
        except audio.AudioError:
            return

    def _rescan_devices(self) -> None:
        if self.recorder.recording:
            self.message.emit("Stop recording first")
            return
        self.recorder.disarm()
        self.player.stop()
        try:
            audio.refresh_devices()
        except audio.AudioError as exc:
            self.error.emit(str(exc), "")
        self._refresh_devices()
        self.prearm()

    def _refresh_devices(self) -> None:
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        try:
            found = audio.devices("input")
        except audio.AudioError as exc:
            found = []
            self.device_combo.setToolTip(str(exc))
        for d in found:
            self.device_combo.addItem(d.name, d.index)
        if not found:
            self.device_combo.addItem("(no input device)", None)
        self.device_combo.blockSignals(False)

    # --- the clip ----------------------------------------------------------------------------

    # The state, as the view and tests read it.
    frames = property(lambda self: self.doc.frames)
    rate = property(lambda self: self.doc.rate)
    mel_settings = property(lambda self: self.doc.settings)
    original = property(lambda self: self.doc.original)
    mel0 = property(lambda self: self.doc.mel0)
    mel = property(lambda self: self.doc.mel)
    ops = property(lambda self: self.doc.ops)
    result = property(lambda self: self.doc.result)
    dirty = property(lambda self: self.doc.dirty)
    selection = property(lambda self: self.doc.selection)
    clipboard = property(lambda self: self.doc.clipboard)
    cursor = property(lambda self: self.doc.cursor)
    listening = property(lambda self: self.doc.listening)

    def restore_clip(self, state: ClipState) -> None:
        """Put back a clip with its edits (undo of a take or an opened file)."""
        if state.settings == self.mel_settings:
            self.doc.set_clip(state.source, state.original, state.mel0, state.settings,
                              state.ops, state.result)
        else:
            # The vocoder changed since: analyse the clip again with the current one.
            audio_, mel0, used = analyse_clip(self.ctx.registry, self.vocoder_name,
                                              *state.source)
            self.doc.set_clip(state.source, audio_, mel0, used, state.ops)

    def replace_clip(self, source: tuple[np.ndarray, int], audio_: np.ndarray,
                     mel0: np.ndarray, what: str) -> None:
        """Make a new take or file the clip, undoably (Ctrl+Z brings the old one back)."""
        new = ClipState(source, np.ascontiguousarray(audio_, np.float32), mel0,
                        self.mel_settings, (), None)
        self.undo_stack.push(ClipCommand(self, new, what))

    def load_audio(self, samples: np.ndarray, rate: int) -> None:
        """Make ``samples`` (mono, at ``rate``) the clip; edits and result start afresh (not
        undoable: sessions and scripts)."""
        source = (np.asarray(samples, np.float32), int(rate))
        audio_, mel0, used = analyse_clip(self.ctx.registry, self.vocoder_name, *source)
        self.undo_stack.clear()
        self.doc.set_clip(source, audio_, mel0, used)

    def _on_doc_clip(self) -> None:
        self.player.stop()
        self.sel_item.setVisible(False)
        self._on_doc_listening()
        self.playhead.setValue(0)
        self.plot.getViewBox().enableAutoRange()
        self._redraw()
        self.readout.setText("Hover to read time, frequency and level; click to set the play "
                             "cursor.")
        self._update_enabled()
        self.clip_changed.emit()

    def _on_doc_mel(self, span: tuple[int, int] | None) -> None:
        if not self._replaying:
            self._redraw()
        self._update_enabled()

    def _on_doc_selection(self) -> None:
        if self.selection is None:
            self.sel_item.setVisible(False)
        else:
            self._show_selection(self.selection)
        self._update_enabled()

    def _on_doc_cursor(self) -> None:
        self.playhead.setValue(self.cursor / self.mel_settings.frame_rate)

    def _on_doc_listening(self) -> None:
        (self.ab_a if self.listening == "A" else self.ab_b).setChecked(True)
        if self.view_combo.currentIndex() == 1:
            self._redraw()

    def new_clip(self, source: tuple[np.ndarray, int], what: str,
                 then: Callable[[], None] | None = None) -> None:
        """Make ``source`` (audio, rate) the clip, undoably, once the chosen vocoder has
        analysed it in the runner; ``then`` runs after. If the vocoder changes meanwhile,
        the clip is analysed again by the new one (in the runner too)."""

        def analysed(out: tuple[np.ndarray, np.ndarray, MelSettings]) -> None:
            audio_, mel0, used = out
            if used != self.mel_settings:
                self.new_clip(source, what, then)
                return
            self.replace_clip(source, audio_, mel0, what)
            if then is not None:
                then()

        self.ctx.jobs.submit(f"{self.name}-analyse-new", analyse_clip, self.ctx.registry,
                             self.vocoder_name, *source, lane="interactive",
                             label=f"Analysing: {what}", on_result=analysed,
                             on_error=self.error.emit)

    def open_file(self, path: str) -> None:
        name = Path(path).name

        def opened(clip) -> None:
            note = (f", {clip.source_channels} channels mixed to mono"
                    if clip.source_channels > 1 else "")
            self.new_clip((clip.audio, clip.rate), f"Open {name}", lambda: self.message.emit(
                f"Opened {name} ({clip.source_rate} Hz{note})"))

        # Reading (and mixing down) a long file happens in the io lane, off the UI.
        self.ctx.jobs.submit(f"{self.name}-open", lambda *, ctx: read_audio(path), lane="io",
                             label=f"Opening {name}", on_result=opened,
                             on_error=self._file_error)

    def _file_error(self, message: str, details: str) -> None:
        self.error.emit(message, details)

    def _choose_file(self) -> None:
        path = dialogs.open_file(self, "sound", "Open audio", AUDIO_FILTER)
        if path:
            self.open_file(path)

    # --- edits -------------------------------------------------------------------------------

    def apply_edit(self, op: dict[str, Any]) -> None:
        """Push one edit on the undo stack (it applies at once)."""
        if not self.frames:
            self.message.emit("Open or record a clip first")
            return
        self.undo_stack.push(EditCommand(self, op))


    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool '{tool}'")
        self.image.tool = tool
        self.tool_buttons[tool].setChecked(True)
        mode = pg.ViewBox.PanMode
        self.plot.getViewBox().setMouseMode(mode)
        self.plot.getViewBox().setMouseEnabled(x=True, y=tool == "pan")

    def _stroke_op(self, points: list) -> dict[str, Any]:
        op: dict[str, Any] = {"op": "brush" if self.image.tool == "brush" else "erase",
                              "points": [[round(p[0], 2), round(p[1], 2)] for p in points],
                              "size": float(self.size_spin.value()),
                              "softness": float(self.soft_spin.value())}
        if op["op"] == "brush":
            op["gain_db"] = float(self.gain_spin.value())
            if self.frames:            # the lowest level shown: a stroke on silence shows
                op["from_db"] = round(self.doc.top_db - TOP_DB, 2)
        return op

    def _on_stroke(self, points: list, finished: bool) -> None:
        if not self.frames:
            return
        op = self._stroke_op(points)
        if finished:
            self._stroke_preview = None
            self.apply_edit(op)
        else:
            self._stroke_preview = op
            self._redraw(preview=edits.apply(self.mel, op))

    def _on_rect_drag(self, rect: QRectF, delta: QPointF, finished: bool) -> None:
        if not self.frames:
            return
        if self.selection is not None and self._inside_selection(rect, delta):
            t0, t1, f0, f1 = self.selection
            dt, df = float(delta.x()), float(delta.y())
            self._show_selection((t0 + dt, t1 + dt, f0 + df, f1 + df))
            if finished:
                self.move_selection(dt, df)
            return
        sel = (rect.left(), rect.right(), rect.top(), rect.bottom())
        self._show_selection(sel)
        if finished:
            self.set_selection(*sel)

    def _inside_selection(self, rect: QRectF, delta: QPointF) -> bool:
        t0, t1, f0, f1 = self.selection
        # The drag began where the rect's corner opposite the delta is.
        x = rect.left() if delta.x() >= 0 else rect.right()
        y = rect.top() if delta.y() >= 0 else rect.bottom()
        return t0 <= x <= t1 and f0 <= y <= f1

    def set_selection(self, t0: float, t1: float, f0: float, f1: float) -> None:
        """Select frames [t0, t1) and mel bins [f0, f1)."""
        self.doc.set_selection(t0, t1, f0, f1)

    def _show_selection(self, sel: tuple[float, float, float, float]) -> None:
        t0, t1, f0, f1 = sel
        hop_s = 1.0 / self.mel_settings.frame_rate
        self.sel_item.setRect(QRectF(t0 * hop_s, f0, (t1 - t0) * hop_s, f1 - f0))
        self.sel_item.setVisible(self.view_combo.currentIndex() == 0)

    def _need_selection(self) -> bool:
        if self.selection is None:
            self.message.emit("Select a time-frequency rectangle first (S, then drag)")
            return False
        return True

    def gain_selection(self) -> None:
        if self._need_selection():
            self.apply_edit({"op": "gain", "rect": list(self.selection),
                             "gain_db": float(self.gain_spin.value())})

    def delete_selection(self) -> None:
        if self._need_selection():
            self.apply_edit({"op": "delete", "rect": list(self.selection)})

    def copy_selection(self) -> None:
        if self._need_selection():
            self.doc.copy_selection()
            self.message.emit(f"Copied {self.clipboard.shape[1]} frames x "
                              f"{self.clipboard.shape[0]} bands")

    def paste(self, at: tuple[float, float] | None = None) -> None:
        """Paste the copied patch at ``(frame, bin)``; default: the playback cursor, at the
        selection's (or the copied patch's) lowest band."""
        if self.clipboard is None:
            self.message.emit("Copy a selection first")
            return
        if at is None:
            f = self.selection[2] if self.selection else 0
            at = (self.cursor, f)
        self.apply_edit({"op": "paste", "patch": self.clipboard.copy(),
                         "at": [int(round(at[0])), int(round(at[1]))]})
        h, w = self.clipboard.shape
        self.set_selection(at[0], at[0] + w, at[1], at[1] + h)

    def move_selection(self, dt: float, df: float) -> None:
        if not self._need_selection():
            return
        t0, t1, f0, f1 = self.selection
        to = [int(round(t0 + dt)), int(round(f0 + df))]
        self.apply_edit({"op": "move", "rect": list(self.selection), "to": to})
        self.set_selection(to[0], to[0] + (t1 - t0), to[1], to[1] + (f1 - f0))

    # --- drawing and readout -----------------------------------------------------------------

    def _view_changed(self, index: int) -> None:
        linear = index == 1
        if linear and self.image.tool != "pan":
            self.set_tool("pan")
            self.message.emit("Edits are made on the mel view; the linear view is for looking")
        for b in [self.tool_buttons[t] for t in ("brush", "eraser", "select")] + \
                self.selection_buttons:
            b.setEnabled(not linear)
        self.sel_item.setVisible(not linear and self.selection is not None)
        self._redraw()

    def _view_db(self, preview: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        if self.view_combo.currentIndex() == 1:
            src = self.current_audio()
            if self._linear is None or self._linear[0] is not src:
                self._linear = (src, linear_db(src, self.mel_settings))
            return self._linear[1], False
        return mel_to_db(self.mel if preview is None else preview), True

    def _show_empty(self) -> None:
        self.plot.show_empty(self._bin_freqs(True), EMPTY_S)

    def _redraw(self, preview: np.ndarray | None = None) -> None:
        if not self.frames:
            self._show_empty()
            return
        db, is_mel = self._view_db(preview)
        self._shown_db = db
        hi = self.doc.top_db if is_mel else float(db.max())
        self.plot.show_db(db, 1.0 / self.mel_settings.frame_rate, self._bin_freqs(is_mel),
                          (hi - TOP_DB, hi))

    def _bin_freqs(self, is_mel: bool) -> np.ndarray:
        s = self.mel_settings
        if is_mel:
            return mel_frequencies(s)
        return np.arange(s.n_fft // 2 + 1) * s.sample_rate / s.n_fft

    def _on_hover(self, x: float, y: float) -> None:
        self.readout.setText(self.readout_at(x, y))

    def readout_at(self, x: float, y: float) -> str:
        """Time, frequency and level at image position ``(x, y)`` (frames, bins)."""
        db = getattr(self, "_shown_db", None)
        if db is None or not self.frames:
            return ""
        # The image rect maps frames to seconds: undo it.
        t_idx = int(np.clip(x, 0, db.shape[1] - 1))
        f_idx = int(np.clip(y, 0, db.shape[0] - 1))
        is_mel = self.view_combo.currentIndex() == 0
        hz = self._bin_freqs(is_mel)[f_idx]
        secs = t_idx / self.mel_settings.frame_rate
        return f"t {secs:.3f} s   f {hz:,.0f} Hz   {db[f_idx, t_idx]:.1f} dB"

    def _on_click(self, x: float) -> None:
        self.doc.set_cursor(x)

    # --- listening ---------------------------------------------------------------------------

    def set_listening(self, which: str) -> None:
        if which == "B" and self.result is None:
            self.message.emit("Nothing vocoded yet: press Vocode")
        self.doc.set_listening(which)
        if self.player.playing:
            self.play()

    def current_audio(self) -> np.ndarray:
        return self.result if (self.listening == "B" and self.result is not None) \
            else self.original

    def play(self) -> None:
        clip = self.current_audio()
        if clip.size == 0:
            self.message.emit("Nothing to play")
            return
        hop = self.mel_settings.hop
        start = self.cursor * hop
        loop = None
        if self.loop_box.isChecked() and self.selection is not None:
            loop = (int(self.selection[0] * hop), int(self.selection[1] * hop))
        if self.player.playing:
            start = self.player.position
        try:
            self.player.play(clip, self.rate, start=start, loop=loop)
        except audio.AudioError as exc:
            self.error.emit(str(exc), "")
            return
        self.play_btn.setText("■ Stop")

    def toggle_play(self) -> None:
        if self.player.playing:
            self.player.stop()
            self.play_btn.setText("▶ Play")
        else:
            self.play()

    # --- recording ---------------------------------------------------------------------------

    def _toggle_record(self, on: bool) -> None:
        if on:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self) -> None:
        self.player.stop()
        if self.device_combo.currentData() is None:
            self._refresh_devices()
        device = self.device_combo.currentData()
        try:
            self.recorder.start(self.rate, device)
        except audio.AudioError as exc:
            self.error.emit(str(exc), "")
            self.record_btn.blockSignals(True)
            self.record_btn.setChecked(False)
            self.record_btn.blockSignals(False)
            return
        self.record_btn.blockSignals(True)
        self.record_btn.setChecked(True)
        self.record_btn.setText("■ Stop")
        self.record_btn.blockSignals(False)
        self.elapsed.setText("0.0 s" if self.recorder.live else "starting…")

    def _draw_live(self) -> None:
        """The last LIVE_S seconds of the take, analysed by the vocoder in the runner
        (latest wins) and drawn while it records."""
        take = self.recorder.snapshot(int(LIVE_S * self.rate))
        if take.size < self.mel_settings.n_fft:
            return
        self.ctx.jobs.submit(f"{self.name}-live", analyse_clip, self.ctx.registry,
                             self.vocoder_name, take, self.rate, lane="interactive",
                             on_result=self._on_live_mel)

    def _on_live_mel(self, out: tuple[np.ndarray, np.ndarray, MelSettings]) -> None:
        if not self.recorder.recording:
            return
        db = mel_to_db(out[1])
        top = float(db.max())
        self.plot.show_db(db, 1.0 / out[2].frame_rate, self._bin_freqs(True),
                          (top - TOP_DB, top), span_s=LIVE_S)

    def stop_recording(self) -> None:
        if not self.recorder.recording:
            return
        self._stop_time = time.perf_counter()
        take = self.recorder.stop()
        self.ctx.jobs.cancel(f"{self.name}-live")
        self.record_btn.blockSignals(True)
        self.record_btn.setChecked(False)
        self.record_btn.setText("● Record")
        self.record_btn.blockSignals(False)
        self.meter.setValue(-60)
        if take.size < self.mel_settings.hop * 2:
            self.error.emit("The take is empty: nothing was recorded", "")
            return
        seconds = take.size / self.rate

        def taken() -> None:
            self.message.emit(f"Recorded {seconds:.1f} s")
            if self.vocode_on_stop.isChecked():
                self._play_after_vocode = True
                self.vocode(region=False)

        # The take is analysed off the UI thread, by the vocoder's own analysis.
        self.new_clip((take, self.rate), "Record a take", taken)

    def _on_poll(self) -> None:
        if self.recorder.armed:
            self.meter.setValue(int(max(-60, min(0, self.recorder.level_db()))))
            if self.recorder.recording and self.recorder.live:
                self.elapsed.setText(f"{self.recorder.seconds:.1f} s")
                self._polls += 1
                if self._polls % 8 == 0:
                    self._draw_live()
            problem = self.recorder.check()
            if problem and self.recorder.recording:
                kept = self.recorder.seconds
                self.stop_recording()
                self.error.emit(f"Recording stopped: {problem}; kept the {kept:.1f} s "
                                "recorded", "")
            elif problem:
                self.recorder.disarm()
                self.meter.setValue(-60)
                self.error.emit(f"Input: {problem}", "")
        if self.player.playing:
            self.playhead.setValue(self.player.position / self.rate)
        elif self.play_btn.text() != "▶ Play":
            self.play_btn.setText("▶ Play")
            self.playhead.setValue(self.cursor / self.mel_settings.frame_rate)
            if self.player.underflows:     # the device ran dry: say so, not only in ALSA's log
                self.message.emit(
                    f"Playback stuttered {self.player.underflows} time(s): the computer was "
                    "too busy to feed the sound device (try again when jobs have finished)")

    # --- vocoding ----------------------------------------------------------------------------

    def vocode(self, region: bool = False) -> None:
        """Vocode the edited mel: all of it, or only the frames edited since the last vocode."""
        if not self.frames:
            self.message.emit("Open or record a clip first")
            return
        name = self.vocoder_name
        registry = self.ctx.registry
        mel = self.mel.copy()
        params = self.params.values()
        hop = self.mel_settings.hop
        span = (0, self.frames)
        base = None
        if region:
            if self.dirty is None:
                self.message.emit("No edits since the last vocode")
                return
            margin = 8
            span = (max(0, self.dirty[0] - margin), min(self.frames, self.dirty[1] + margin))
            base = (self.result if self.result is not None else self.original).copy()

        source, own = self.doc.source
        if not source.size:
            source, own = self.original, self.rate
        rate = self.rate

        def work(*, ctx: JobContext) -> tuple[np.ndarray, float, Any]:
            t0 = time.perf_counter()
            y = vocode_request(registry, name, VocodeRequest(mel[:, span[0]:span[1]], params),
                               ctx=ctx)
            if base is not None:
                # Vocoded in parts: no single recipe makes it again.
                return edits.splice(base, y, span[0] * hop, fade=2 * hop), \
                    time.perf_counter() - t0, None
            from models import device as devices
            from models.recipe import Recipe

            recipe = Recipe.of("vocode-mel", {"params": params, "rate": rate,
                                              "source_rate": int(own),
                                              "length": int(source.size)},
                               model_info=registry.info(name), arrays={"mel": mel},
                               device=devices.current_device())
            return y, time.perf_counter() - t0, recipe

        self.ctx.jobs.submit(f"{self.name}-vocode", work, lane="interactive",
                             label=f"Vocoding with {name}", on_result=self._vocoded,
                             on_error=self._vocode_failed)

    def _vocode_failed(self, message: str, details: str) -> None:
        self._play_after_vocode = False
        self.error.emit(message, details)

    def _vocoded(self, out: tuple[np.ndarray, float, Any]) -> None:
        y, seconds, self.result_recipe = out
        self.doc.set_result(y)
        if self.result_recipe is not None:
            self.result_made.emit(self.result_recipe, y, self.title)
        self.last_timing = {"vocode_s": seconds}
        self.set_listening("B")
        if self._play_after_vocode:
            self._play_after_vocode = False
            self.doc.set_cursor(0)
            self.play()
            self.last_timing["stop_to_play_s"] = time.perf_counter() - self._stop_time
            self.message.emit(f"Vocoded and playing {self.last_timing['stop_to_play_s']:.2f} s "
                              "after you stopped")
        else:
            self.message.emit(f"Vocoded in {seconds:.2f} s")
        self._update_enabled()
        self.vocoded.emit()

    # --- export and sessions -----------------------------------------------------------------

    def export(self) -> None:
        if not self.original.size:
            self.message.emit("Nothing to export yet")
            return
        out = dialogs.save_file(self, "sound", "Export original and vocoded", "take.wav",
                                "WAV (*.wav)")
        if out:
            clips = self._export_clips(out)
            self.ctx.jobs.submit(f"{self.name}-export", lambda *, ctx: write_clips(clips),
                                 lane="io", label="Exporting", on_result=self._exported,
                                 on_error=self.error.emit)

    def _export_clips(self, out: str) -> list[tuple[Path, np.ndarray, int]]:
        """The take as it was recorded or read, at its own rate, and the vocoded result
        brought back to that rate (the vocoder works at its own)."""
        stem = Path(out).with_suffix("")
        source, rate = self.doc.source
        if not source.size:                     # a clip without its source (an old session)
            source, rate = self.original, self.rate
        clips = [(stem.parent / f"{stem.name}-original.wav", source, rate, None)]
        if self.result is not None:
            back = fit_length(resample(self.result, self.rate, rate), source.size)
            clips.append((stem.parent / f"{stem.name}-vocoded.wav", back, rate,
                          self.result_recipe))
        return clips

    def _exported(self, paths: list[Path]) -> None:
        self.message.emit("Exported " + ", ".join(p.name for p in paths))

    def export_to(self, out: str) -> list[Path]:
        """Write OUT-original.wav and (if vocoded) OUT-vocoded.wav now; returns the paths."""
        try:
            paths = write_clips(self._export_clips(out))
        except AudioFileError as exc:
            self.error.emit(str(exc), "")
            return []
        self._exported(paths)
        return paths

    def state(self) -> dict[str, Any]:
        return {"rate": self.rate, "original": self.original, "ops": list(self.ops),
                "source": self.doc.source[0], "source_rate": int(self.doc.source[1]),
                "result": self.result if self.result is not None else np.zeros(0, np.float32),
                "vocoder": self.vocoder_name, "view": self.view_combo.currentIndex(),
                "listening": self.listening, "cursor": self.cursor,
                "selection": list(self.selection) if self.selection else None}

    def restore_state(self, state: dict[str, Any]) -> None:
        if state.get("vocoder") and self.vocoder_combo.findData(state["vocoder"]) >= 0:
            self.set_vocoder(state["vocoder"])
        self.result_recipe = None
        original = np.asarray(state.get("original", np.zeros(0)), np.float32)
        if original.size == 0:
            return
        source = np.asarray(state.get("source", np.zeros(0)), np.float32)
        if source.size:                         # the take at its own rate (exports keep it)
            self.load_audio(source, int(state["source_rate"]))
        else:
            self.load_audio(original, int(state.get("rate", self.rate)))
        self._replaying = True
        try:
            for op in state.get("ops", []):
                self.apply_edit(dict(op))
        finally:
            self._replaying = False
        self._redraw()
        result = np.asarray(state.get("result", np.zeros(0)), np.float32)
        if result.size:
            self.doc.set_result(result)
        self.view_combo.setCurrentIndex(int(state.get("view", 0)))
        self.doc.set_cursor(int(state.get("cursor", 0)))
        if state.get("selection"):
            self.set_selection(*state["selection"])
        self.set_listening(state.get("listening", "A"))
        self.undo_stack.setClean()
        self._update_enabled()

    def _update_enabled(self) -> None:
        has = bool(self.frames)
        for w in (self.play_btn, self.vocode_btn, self.export_btn):
            w.setEnabled(has)
        self.region_btn.setEnabled(has and self.dirty is not None)
        self.ab_b.setEnabled(self.result is not None)
        if has:
            secs = self.original.size / self.rate
            self.info_label.setText(f"{secs:.2f} s · {self.rate} Hz · {len(self.ops)} edits")
        else:
            self.info_label.setText("")

    def shutdown(self) -> None:
        self._closed = True
        self._poll.stop()
        self.player.stop()
        self.recorder.disarm()
        super().shutdown()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(SpectralPanel))
