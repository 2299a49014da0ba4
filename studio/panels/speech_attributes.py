"""Speech attributes: see a sentence's pitch, loudness, SNR and C50, change them, hear it.

A clip (opened, recorded here, or taken from the Spectrogram editor) is analysed by the
attribute model (AnCoGen-style, models/audio/ancogen.py): its pitch curve is drawn over the
mel spectrogram, its loudness below, SNR and C50 as numbers. Sliders set a pitch shift
(semitones) and a loudness change (dB), and targets for SNR and C50; the pitch curve can be
drawn with the mouse. Apply (the long lane: progress, cancel) makes the edit
(models/audio/speech_edit.py): by default the recording is kept (a pitch change moves its own
spectral peaks by the model's plan, formants kept; a clean-up filters it toward the model's
clean, dry regeneration); "Regenerate whole clip" (and any added noise or room) has the model
regenerate the mel from the clip's analysed content and the vocoder make audio of it. Play,
A/B with the original at the same moment, export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from models.audio.features import log_mel, mel_frequencies, mel_to_db
from models.audio.io import AudioFileError, read_audio, resample, write_wav
from models.audio.speech_edit import METHODS, EditResult, edit_audio
from models.protocol import Capability, JobContext, MelSettings
from models.registry import Registry
from models.tasks.runner import warm_fingerprint
from studio import audio, dialogs
from studio.panels import register_panel
from studio.panels.base import DocCommand, Panel, StudioContext, with_suffix
from studio.panels.spectral import AUDIO_FILTER, TOP_DB
from studio.state.speech_attributes import (
    C50_RANGE,
    LOUDNESS_LIMIT,
    PITCH_LIMIT,
    SNR_RANGE,
    SpeechAttributesDoc,
)
from studio.widgets.model_combo import ModelCombo
from studio.widgets.spectrogram import SpectrogramView

TICKS = 10                      # slider positions per unit
RATE = 16000


# -- jobs (worker thread) --------------------------------------------------------------------

def analyse_speech(registry: Registry, model: str, clip: np.ndarray, *, ctx: JobContext
                   ) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """(the clip, its analysis, its log-mel)."""
    backend = registry.get(model)
    ctx.check()
    mel = log_mel(clip, backend.mel_settings).numpy()
    warm_fingerprint(registry, model)          # an edit's recipe, later, costs nothing
    return clip, backend.analyse_mel(mel), mel


def regenerate(registry: Registry, model: str, vocoder: str, clip: np.ndarray,
               changes: dict[str, float], curves: dict[str, np.ndarray], *,
               whole: bool = False, keep_formants: bool = True,
               ctx: JobContext) -> tuple[np.ndarray, EditResult]:
    attr = registry.get(model)
    res = edit_audio(attr, registry.get(vocoder), clip, changes, curves, regenerate=whole,
                     keep_formants=keep_formants, ctx=ctx)
    # What is shown for B is the mel of what is heard.
    res.mel = log_mel(res.audio, attr.mel_settings).numpy()
    return clip, res


def restore_edit(registry: Registry, recipe: Any, *, ctx: JobContext
                 ) -> tuple[str, str, np.ndarray, str]:
    """An edit recipe's attribute model and vocoder registered here and its clip at the
    models' rate (an array of the recipe, or its input file read), in the io lane."""
    from models.audio.io import read_audio
    from models.tasks import runner

    model = runner.model_for(registry, recipe)
    vocoder = runner.model_for(registry, recipe, dict(recipe.params.get("vocoder", {})))
    if "audio" in recipe.arrays:
        return model, vocoder, recipe.arrays["audio"].astype(np.float32), "the recipe's clip"
    path = runner.input_path(recipe, "audio")
    return model, vocoder, read_audio(path, RATE).audio, path.name


@register_panel
class SpeechAttributesPanel(Panel):
    name = "speech_attributes"
    title = "Speech attributes"
    open_filter = AUDIO_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.doc = SpeechAttributesDoc()
        self.analysis: dict[str, Any] | None = None
        self.mel: np.ndarray | None = None
        self.result: np.ndarray | None = None
        self.result_recipe: Any = None         # how the result was made (models/recipe.py)
        self.result_mel: np.ndarray | None = None
        self.result_key: dict[str, Any] | None = None     # the doc state the result is of
        self.player = audio.player()
        self.recorder = audio.Recorder()
        self.listening = "A"
        self._generates: dict[str, bool] = {}
        self._build()
        self.backend_changed()
        self._redraw()                  # no clip yet: the empty view says what to do

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = ModelCombo("Speech attribute models (analysis and regeneration)")
        self.vocoder_combo = ModelCombo("The vocoder that makes audio of the regenerated mel")
        self.open_button = QPushButton("Open…")
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record from the default input; press again to stop")
        self.take_button = QPushButton("From Spectrogram")
        self.take_button.setToolTip("Take the clip open in the Spectrogram editor")
        top = QHBoxLayout()
        for w in (QLabel("Model"), self.model_combo, QLabel("Vocoder"), self.vocoder_combo,
                  self.open_button, self.record_button, self.take_button):
            top.addWidget(w)
        top.addStretch(1)

        self.plot = SpectrogramView()
        self.plot.empty_text.setText("Open, record or take a clip from the Spectrogram editor")
        self.pitch_item = pg.PlotCurveItem(pen=pg.mkPen("#fff", width=2), connect="finite")
        self.target_item = pg.PlotCurveItem(pen=pg.mkPen("#4df", width=2), connect="finite")
        for item in (self.pitch_item, self.target_item):
            item.setZValue(5)
            self.plot.addItem(item)
        self.loud_plot = pg.PlotWidget()
        self.loud_plot.setBackground("#111")
        self.loud_plot.setFixedHeight(90)
        self.loud_plot.setLabel("left", "dB")
        self.loud_plot.setYRange(-90, 0, padding=0)     # dBFS, the loudness tokens' range
        self.loud_plot.setXLink(self.plot)
        self.loud_item = self.loud_plot.plot(pen=pg.mkPen("#fc6", width=1.5))
        self.legend = QLabel("Pitch over the mel spectrogram (white: analysed; blue: what "
                             "the edit asks for); loudness per frame below. Shown: A.")
        self.legend.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setWordWrap(True)

        box = QGroupBox("Change")
        grid = QGridLayout(box)
        self.pitch_slider = self._slider(-PITCH_LIMIT, PITCH_LIMIT, "pitch")
        self.loud_slider = self._slider(-LOUDNESS_LIMIT, LOUDNESS_LIMIT, "loudness")
        self.snr_slider = self._slider(*SNR_RANGE, "snr")
        self.c50_slider = self._slider(*C50_RANGE, "c50")
        self.snr_check = QCheckBox("SNR to")
        self.c50_check = QCheckBox("C50 to")
        self.snr_check.setToolTip("Regenerate with this speech-to-noise ratio (50: clean)")
        self.c50_check.setToolTip("Regenerate with this clarity (42: dry, lower: more room)")
        self.values = {k: QLabel() for k in ("pitch", "loudness", "snr", "c50")}
        for v in self.values.values():
            v.setMinimumWidth(64)
        rows = ((QLabel("Pitch"), self.pitch_slider, "pitch"),
                (QLabel("Loudness"), self.loud_slider, "loudness"),
                (self.snr_check, self.snr_slider, "snr"),
                (self.c50_check, self.c50_slider, "c50"))
        for r, (label, slider, key) in enumerate(rows):
            grid.addWidget(label, r, 0)
            grid.addWidget(slider, r, 1)
            grid.addWidget(self.values[key], r, 2)
        grid.setColumnStretch(1, 1)
        self.draw_button = QPushButton("Draw pitch")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag over the spectrogram to draw the pitch curve")
        self.clear_drawing = QPushButton("Clear drawing")
        self.reset_button = QPushButton("Reset")
        tools = QHBoxLayout()
        for b in (self.draw_button, self.clear_drawing, self.reset_button):
            tools.addWidget(b)
        grid.addLayout(tools, len(rows), 0, 1, 3)
        self.formants_check = QCheckBox("Keep formants")
        self.formants_check.setToolTip("Move the pitch only; the vowels' envelope stays where "
                                       "it was (off: it moves with the pitch)")
        self.whole_check = QCheckBox("Regenerate whole clip")
        self.whole_check.setToolTip(
            "Send the whole clip through the model and the vocoder. Off: the recording is "
            "kept (pitch moves its own peaks, a clean-up filters it); adding noise or room "
            "always regenerates")
        how = QHBoxLayout()
        for b in (self.formants_check, self.whole_check):
            how.addWidget(b)
        how.addStretch(1)
        grid.addLayout(how, len(rows) + 1, 0, 1, 3)

        self.regen_button = QPushButton("Apply")
        self.regen_button.setToolTip("Make the edit with these attributes "
                                     "(Ctrl+Return; cancel in the status bar)")
        self.play_button = QPushButton("▶ Play")
        self.ab_button = QPushButton("A: original")
        self.ab_button.setToolTip("Switch between the original and the regenerated clip at "
                                  "the same moment")
        self.export_button = QPushButton("Export WAV…")
        actions = QHBoxLayout()
        for b in (self.regen_button, self.play_button, self.ab_button, self.export_button):
            actions.addWidget(b)

        right = QVBoxLayout()
        right.addWidget(box)
        right.addLayout(actions)
        right.addWidget(self.readout)
        right.addStretch(1)
        left = QVBoxLayout()
        left.addWidget(self.plot, 1)
        left.addWidget(self.loud_plot)
        left.addWidget(self.legend)
        self.set_columns(top, left, right)

        self.model_combo.currentIndexChanged.connect(lambda _: self._models_chosen())
        self.vocoder_combo.currentIndexChanged.connect(lambda _: self._models_chosen())
        self.open_button.clicked.connect(self._choose_file)
        self.record_button.toggled.connect(self._toggle_record)
        self.take_button.clicked.connect(lambda: self.request_clip.emit(self.name))
        self.snr_check.toggled.connect(lambda on: self._target_toggled("snr", on))
        self.c50_check.toggled.connect(lambda on: self._target_toggled("c50", on))
        self.formants_check.toggled.connect(
            lambda on: self._push("Keep formants" if on else "Move formants",
                                  keep_formants=bool(on)))
        self.whole_check.toggled.connect(
            lambda on: self._push("Regenerate whole clip" if on else "Keep the recording",
                                  regenerate=bool(on)))
        self.draw_button.toggled.connect(self._draw_toggled)
        self.clear_drawing.clicked.connect(self._clear_drawing)
        self.reset_button.clicked.connect(self.reset)
        self.regen_button.clicked.connect(self.regenerate)
        self.play_button.clicked.connect(self.toggle_play)
        self.ab_button.clicked.connect(self.switch_ab)
        self.export_button.clicked.connect(self.export)
        self.plot.image.stroke.connect(self._on_stroke)
        self.add_shortcut("Ctrl+Return", self.regenerate, "Speech attributes: apply")
        self.add_shortcut("Space", self.toggle_play, "Speech attributes: play or stop")
        self._poll = QTimer(self, interval=50)
        self._poll.timeout.connect(self._on_poll)
        self.set_doc(self.doc)

    def _slider(self, lo: float, hi: float, key: str) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(int(lo * TICKS), int(hi * TICKS))
        s.setObjectName(f"slider-{key}")
        s.valueChanged.connect(lambda v, k=key: self._slider_moved(k, v / TICKS))
        return s

    # -- models ---------------------------------------------------------------------------
    def backend_changed(self) -> None:
        reg = self.ctx.registry
        self._generates.clear()
        attrs = [i for i in reg.infos(Capability.ATTRIBUTES)]
        self.model_combo.set_models(attrs, self.doc.model or reg.default(
            Capability.ATTRIBUTES) or "")
        self.vocoder_combo.set_models(reg.infos(Capability.VOCODE), self.doc.vocoder or
                                      reg.default(Capability.VOCODE) or "")
        self._models_chosen()

    def _models_chosen(self) -> None:
        model, voc = self.model_combo.current_name, self.vocoder_combo.current_name
        changed = model != self.doc.model
        self.doc.model, self.doc.vocoder = model, voc
        self.result = self.result_mel = self.result_recipe = None
        self.set_listening("A")
        if changed and self.doc.audio is not None:
            self._analyse()
        self._update_enabled()

    # -- clips ----------------------------------------------------------------------------
    def open_file(self, path: str) -> None:
        name = Path(path).name
        self.ctx.jobs.submit(f"{self.name}-open", lambda *, ctx: read_audio(path, RATE),
                             lane="io", label=f"Opening {name}",
                             on_result=lambda clip: self.load_audio(clip.audio, RATE, name),
                             on_error=self.error.emit)

    def _choose_file(self) -> None:
        path = dialogs.open_file(self, "sound", "Open speech", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def receive_audio(self, samples: np.ndarray, rate: int, label: str) -> None:
        self.load_audio(samples, rate, label)

    def load_audio(self, samples: np.ndarray, rate: int, label: str) -> None:
        """Make ``samples`` (mono at ``rate``) the clip, undoably; changes start afresh."""
        x = np.asarray(samples, np.float32).reshape(-1)
        if rate != RATE:
            x = resample(x, rate, RATE)
        if x.size < RATE // 4:
            self.error.emit("The clip is shorter than 0.25 s; nothing to analyse", "")
            return
        new = SpeechAttributesDoc(model=self.doc.model, vocoder=self.doc.vocoder, audio=x,
                                  label=label, source_rate=int(rate))
        self.undo_stack.push(DocCommand(self, f"Clip: {label}", new.state()))

    def restore_recipe(self, recipe: Any, note: str = "") -> None:
        """An edit's recipe (this panel's, or 'latent-studio attributes edit'): the clip, the
        model and vocoder, the changes and a drawn pitch curve, ready to Apply again."""
        if recipe.task != "attributes-edit":
            self.error.emit(f"a {recipe.task} is not made in Speech attributes", "")
            return
        self.ctx.jobs.submit(f"{self.name}-restore", restore_edit, self.ctx.registry, recipe,
                             lane="io", label="Opening the recipe's models and clip",
                             on_result=lambda r: self._restored(recipe, *r, note=note),
                             on_error=self.error.emit)

    def _restored(self, recipe: Any, model: str, vocoder: str, clip: np.ndarray, label: str,
                  note: str = "") -> None:
        p = recipe.params
        curve = recipe.arrays.get("curve-pitch")
        new = SpeechAttributesDoc(
            model=model, vocoder=vocoder, audio=clip, label=label,
            pitch=float(p.get("pitch") or 0.0), loudness=float(p.get("loudness") or 0.0),
            snr=p.get("snr"), c50=p.get("c50"),
            drawn=None if curve is None else curve.astype(np.float32),
            keep_formants=bool(p.get("keep_formants", True)),
            regenerate=bool(p.get("regenerate", False)),
            source_rate=int(p.get("out_rate") or RATE))
        self.begin_restore(model)
        self.undo_stack.push(DocCommand(self, f"Clip: {label}", new.state()))
        self.undo_stack.endMacro()
        self.message.emit(f"Restored the recipe's edit of {label}: Apply makes it again")
        if note:
            self.error.emit(f"Restored, but {note}", "")

    def _toggle_record(self, on: bool) -> None:
        try:
            if on:
                self.player.stop()
                self.recorder.start(RATE)
                self.record_button.setText("■ Stop")
                self._poll.start()
            else:
                take = self.recorder.stop()
                self.record_button.setText("● Record")
                if take.size:
                    self.load_audio(take, RATE, "recording")
        except audio.AudioError as exc:
            self.record_button.blockSignals(True)
            self.record_button.setChecked(False)
            self.record_button.setText("● Record")
            self.record_button.blockSignals(False)
            self.error.emit(f"Recording failed: {exc}", "")

    def _analyse(self) -> None:
        clip, model = self.doc.audio, self.doc.model
        if clip is None or not model:
            return
        self.ctx.jobs.submit(f"{self.name}-analyse", analyse_speech, self.ctx.registry, model,
                             clip, lane="interactive", label="Analysing speech attributes",
                             on_result=self._analysed, on_error=self.error.emit)

    def _analysed(self, out: tuple[np.ndarray, dict[str, Any], np.ndarray]) -> None:
        clip, a, mel = out
        if clip is not self.doc.audio:
            return
        self.analysis, self.mel = a, mel
        self._redraw()
        self.plot.getViewBox().enableAutoRange()
        self._update_enabled()

    # -- document -------------------------------------------------------------------------
    def set_doc(self, doc: SpeechAttributesDoc) -> None:
        new_clip = doc.audio is not self.doc.audio
        self.doc = doc
        for key, slider in (("pitch", self.pitch_slider), ("loudness", self.loud_slider)):
            slider.blockSignals(True)
            slider.setValue(int(round(getattr(doc, key) * TICKS)))
            slider.blockSignals(False)
        for key, slider, check, default in (("snr", self.snr_slider, self.snr_check, 50.0),
                                            ("c50", self.c50_slider, self.c50_check, 42.0)):
            v = getattr(doc, key)
            for w in (slider, check):
                w.blockSignals(True)
            check.setChecked(v is not None)
            slider.setValue(int(round((default if v is None else v) * TICKS)))
            for w in (slider, check):
                w.blockSignals(False)
        for check, on in ((self.formants_check, doc.keep_formants),
                          (self.whole_check, doc.regenerate)):
            check.blockSignals(True)
            check.setChecked(on)
            check.blockSignals(False)
        for name, combo in ((doc.model, self.model_combo), (doc.vocoder, self.vocoder_combo)):
            if name and name in combo.names() and combo.current_name != name:
                combo.select(name, quiet=True)
        self._show_values()
        if new_clip:
            self.player.stop()
            self.analysis = self.mel = self.result = self.result_mel = None
            self.result_recipe = None
            self.listening = "A"
            self._redraw()
            self._analyse()
        else:
            self._redraw_target()
        self._update_enabled()

    def _push(self, what: str, merge: str = "", **change: Any) -> None:
        state = {**self.doc.state(), **change}
        self.undo_stack.push(DocCommand(self, what, state, merge))

    def _slider_moved(self, key: str, value: float) -> None:
        if key in ("snr", "c50"):
            check = self.snr_check if key == "snr" else self.c50_check
            if not check.isChecked():
                self._show_values(key, value)
                return
        self._push(f"Change {key}", key, **{key: value})

    def _target_toggled(self, key: str, on: bool) -> None:
        slider = self.snr_slider if key == "snr" else self.c50_slider
        self._push(f"{'Set' if on else 'Keep'} {key}", **{key: slider.value() / TICKS
                                                           if on else None})

    def reset(self) -> None:
        self._push("Reset changes", pitch=0.0, loudness=0.0, snr=None, c50=None, drawn=None)

    def _show_values(self, key: str | None = None, pending: float | None = None) -> None:
        d = self.doc
        a = self.analysis or {}
        self.values["pitch"].setText(f"{d.pitch:+.1f} st")
        self.values["loudness"].setText(f"{d.loudness:+.1f} dB")
        for k in ("snr", "c50"):
            v = getattr(d, k)
            if k == key and pending is not None:
                v = pending
            now = a.get(f"{k}_db")
            self.values[k].setText(f"{v:.0f} dB" if v is not None else
                                   (f"keep {now:.0f}" if now is not None else "keep"))

    # -- the pitch curve ------------------------------------------------------------------
    def _freqs(self) -> np.ndarray:
        mel = self.ctx.registry.info(self.doc.model).mel if self.doc.model else None
        return mel_frequencies(mel or MelSettings())

    def _hz_to_band(self, hz: np.ndarray) -> np.ndarray:
        f = self._freqs()
        out = np.interp(hz, f, np.arange(f.size) + 0.5)
        return np.where(np.asarray(hz) > 0, out, np.nan)

    def _band_to_hz(self, band: float) -> float:
        f = self._freqs()
        return float(np.interp(band - 0.5, np.arange(f.size), f))

    def target_f0(self) -> np.ndarray | None:
        """The pitch curve the edit asks for (Hz per frame, 0 unvoiced)."""
        if self.analysis is None:
            return None
        curves = self.doc.curves(self.analysis["f0_hz"])
        f0 = curves.get("pitch", self.analysis["f0_hz"])
        return np.where(f0 > 0, f0 * 2 ** (self.doc.pitch / 12), 0).astype(np.float32)

    def _draw_toggled(self, on: bool) -> None:
        self.plot.image.tool = "brush" if on else "pan"

    def _on_stroke(self, points: list, finished: bool) -> None:
        if not self.draw_button.isChecked() or self.mel is None or not finished:
            return
        hop = 1.0 / (RATE / 256)
        pts = [(x / hop, self._band_to_hz(y)) for x, y in points]
        doc = SpeechAttributesDoc.from_state(self.doc.state())
        # Drawn as heard after the shift: store it before the shift.
        doc.draw(self.mel.shape[1], [(f, h / 2 ** (doc.pitch / 12)) for f, h in pts])
        self._push("Draw pitch", drawn=doc.drawn)

    def _clear_drawing(self) -> None:
        self._push("Clear the drawn pitch", drawn=None)

    # -- drawing --------------------------------------------------------------------------
    def _redraw(self) -> None:
        if self.mel is None:
            self.plot.show_empty(self._freqs(), 4.0)
            for item in (self.pitch_item, self.target_item, self.loud_item):
                item.setData([], [])
            return
        shown = self.result_mel if self.listening == "B" and self.result_mel is not None \
            else self.mel
        db = mel_to_db(shown)
        hi = float(mel_to_db(self.mel).max())
        self.legend.setText("Pitch over the mel spectrogram (white: analysed; blue: what "
                            "the edit asks for); loudness per frame below. Shown: "
                            + ("B, the edit" if shown is not self.mel else
                               "A, the original"))
        hop = 256 / RATE
        self.plot.show_db(db, hop, self._freqs(), (hi - TOP_DB, hi))
        a = self.analysis
        t = (np.arange(a["f0_hz"].size) + 0.5) * hop
        self.pitch_item.setData(t, self._hz_to_band(a["f0_hz"]))
        self.loud_item.setData(t, a["loudness_db"])
        self._redraw_target()

    def _redraw_target(self) -> None:
        self._show_values()
        f0 = self.target_f0()
        if f0 is None:
            self.target_item.setData([], [])
            return
        hop = 256 / RATE
        t = (np.arange(f0.size) + 0.5) * hop
        self.target_item.setData(t, self._hz_to_band(f0))
        a = self.analysis
        voiced = a["f0_hz"][a["f0_hz"] > 0]
        self.readout.setText(
            f"{self.doc.label}: {self.doc.audio.size / RATE:.2f} s · pitch median "
            + (f"{np.median(voiced):.0f} Hz" if voiced.size else "none (unvoiced)")
            + f" · SNR {a['snr_db']:.1f} dB · C50 {a['c50_db']:.1f} dB"
            + (" · edited: Apply to hear it" if self.doc.edited and not self.current
               else ""))

    @property
    def current(self) -> bool:
        """Whether the regenerated clip is of the current settings."""
        return self.result is not None and self.result_key is not None and _same(
            self.result_key, self.doc.state())

    def _update_enabled(self) -> None:
        has = self.doc.audio is not None
        ready = has and self.analysis is not None and bool(self.doc.vocoder)
        if self.doc.model not in self._generates:
            self._generates[self.doc.model] = can_generate(self.ctx.registry, self.doc.model)
        gen = ready and self._generates[self.doc.model]
        for w in (self.pitch_slider, self.loud_slider, self.snr_slider, self.c50_slider,
                  self.snr_check, self.c50_check, self.draw_button, self.clear_drawing,
                  self.reset_button, self.formants_check, self.whole_check):
            w.setEnabled(ready)
        self.regen_button.setEnabled(gen)
        self.regen_button.setToolTip("Make the edit with these attributes (Ctrl+Return)"
                                     if gen or not ready else
                                     "This model analyses only; it cannot regenerate")
        self.play_button.setEnabled(has)
        self.ab_button.setEnabled(self.result is not None)
        self.export_button.setEnabled(self.result is not None)

    # -- regenerate, listen, export -------------------------------------------------------
    def regenerate(self) -> None:
        if not self.regen_button.isEnabled():
            self.message.emit("Open a clip (and an attribute model that regenerates) first")
            return
        key = self.doc.state()
        curves = self.doc.curves(self.analysis["f0_hz"])
        recipe = self.edit_recipe(self.doc.changes(), curves)
        self.ctx.jobs.submit(
            f"{self.name}-regenerate", regenerate, self.ctx.registry, self.doc.model,
            self.doc.vocoder, self.doc.audio, self.doc.changes(), curves,
            whole=self.doc.regenerate, keep_formants=self.doc.keep_formants, lane="long",
            label="Editing speech",
            on_result=lambda out, k=key, r=recipe: self._regenerated(out, k, r),
            on_error=self.error.emit)

    def edit_recipe(self, changes: dict[str, float], curves: dict[str, np.ndarray]) -> Any:
        """The recipe of an edit of the clip (the clip and a drawn pitch curve as arrays);
        the rate it is exported at is put in when it is exported."""
        from models import device as devices
        from models.recipe import Recipe
        from models.tasks.runner import model_entry

        reg = self.ctx.registry
        params = {**{k: changes.get(k) for k in ("pitch", "loudness", "snr", "c50")},
                  "regenerate": bool(self.doc.regenerate),
                  "keep_formants": bool(self.doc.keep_formants),
                  "vocoder": model_entry(reg, self.doc.vocoder), "out_rate": RATE}
        arrays = {"audio": np.asarray(self.doc.audio, np.float32),
                  **{f"curve-{k}": np.asarray(v, np.float32) for k, v in curves.items()}}
        return Recipe.of("attributes-edit", params, model_info=reg.info(self.doc.model),
                         arrays=arrays, device=devices.current_device())

    def _regenerated(self, out: tuple[np.ndarray, EditResult], key: dict[str, Any],
                     recipe: Any = None) -> None:
        clip, res = out
        if clip is not self.doc.audio:
            return
        self.result, self.result_key = res.audio, key
        self.result_recipe = recipe
        if recipe is not None:
            self.result_made.emit(recipe, res.audio, self.title)
        self.result_mel = res.mel
        note = f"{res.method} ({METHODS[res.method]})"
        if res.limited_db:
            note += f"; lowered {res.limited_db:.1f} dB to stay below full scale"
        self.message.emit(f"Speech attributes: {note}")
        self.set_listening("B")
        self._redraw_target()
        self._update_enabled()
        self.play()

    def set_listening(self, which: str) -> None:
        before = self.listening
        self.listening = which if self.result is not None else "A"
        self.ab_button.setText("B: edited" if self.listening == "B" else "A: original")
        if self.listening != before and self.mel is not None:
            self._redraw()

    def current_audio(self) -> np.ndarray | None:
        return self.result if self.listening == "B" else self.doc.audio

    def play(self, start: int = 0) -> None:
        clip = self.current_audio()
        if clip is None:
            return
        try:
            self.player.play(clip, RATE, start=min(start, max(clip.size - 1, 0)))
        except audio.AudioError as exc:
            self.error.emit(f"Playback failed: {exc}", "")
            return
        self.play_button.setText("■ Stop")
        self._poll.start()

    def toggle_play(self) -> None:
        if self.player.playing:
            self.player.stop()
            self.play_button.setText("▶ Play")
        else:
            self.play()

    def switch_ab(self) -> None:
        """Listen to the other clip from the moment being heard."""
        pos = self.player.position if self.player.playing else 0
        self.set_listening("A" if self.listening == "B" else "B")
        if self.player.playing:
            self.play(pos)

    def _on_poll(self) -> None:
        if self.recorder.recording:
            self.readout.setText(f"Recording… {self.recorder.seconds:.1f} s")
            return
        if self.player.playing:
            self.plot.playhead.setValue(self.player.position / RATE)
        else:
            self.play_button.setText("▶ Play")
            self._poll.stop()

    def export(self) -> None:
        if self.result is None:
            self.message.emit("Apply first; there is nothing edited to export")
            return
        path = dialogs.save_file(self, "sound", "Export edited speech", "edited.wav",
                                 "WAV (*.wav)")
        if path:
            self.export_to(path)

    def export_to(self, path: str, rate: int | None = None) -> Path | None:
        """Write the edited speech as WAV (a name typed without ``.wav`` gets it) at the
        clip's own rate (a 44.1 kHz recording comes back at 44.1 kHz), or at ``rate``."""
        path = with_suffix(path, ".wav")
        rate = int(rate or self.doc.source_rate or RATE)
        audio = self.result if rate == RATE else resample(self.result, RATE, rate)
        recipe = self.result_recipe
        if recipe is not None:                  # exported at this rate: so is a replay
            import copy

            recipe = copy.copy(recipe)
            recipe.params = {**recipe.params, "out_rate": rate}
        try:
            out = write_wav(path, audio, rate, recipe=recipe)
        except AudioFileError as exc:             # our words: the disk is full, ...
            self.error.emit(str(exc), "")
            return None
        self.message.emit(f"Exported {Path(path).name} ({rate / 1000:g} kHz)")
        return out

    # -- sessions -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        s = self.doc.state()
        return {k: (np.zeros(0, np.float32) if v is None and k in ("audio", "drawn") else v)
                for k, v in s.items()}

    def restore_state(self, state: dict[str, Any]) -> None:
        s = dict(state)
        for k in ("audio", "drawn"):
            if s.get(k) is not None and np.asarray(s[k]).size == 0:
                s[k] = None
        self.undo_stack.clear()
        self.set_doc(SpeechAttributesDoc.from_state(s))
        self.undo_stack.setClean()

    def shutdown(self) -> None:
        self._poll.stop()
        self.player.stop()
        if self.recorder.recording:
            self.recorder.stop()
        self.recorder.disarm()
        super().shutdown()


def can_generate(registry: Registry, model: str) -> bool:
    """Whether an attribute model regenerates speech (its card has a content stream)."""
    try:
        return bool(registry.card(model).get("config", {}).get("content_dims", 0))
    except Exception:  # noqa: BLE001 - a model without a readable card only analyses
        return False


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for k in a:
        x, y = a[k], b.get(k)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if x is not y and not (x is not None and y is not None
                                   and np.array_equal(x, y, equal_nan=True)):
                return False
        elif x != y:
            return False
    return True


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(SpeechAttributesPanel))
