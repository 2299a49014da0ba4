"""The spectrogram editor: analysis from the vocoder, editing by mouse, undo, vocoding, A/B,
sessions, and real recording and playback through a virtual PulseAudio device."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from models.audio import edits
from models.registry import Registry
from studio.app import MainWindow

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def studio(qtbot):
    """The main window over the shipped models (Griffin-Lim and the neural vocoder)."""
    win = MainWindow(registry=Registry())
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    panel = win.show_panel("spectral")
    panel.set_vocoder("griffinlim")
    panel.params.set_value("iters", 4)
    yield win, panel
    win.close()


def tone(seconds: float, hz: float = 440.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def speech() -> np.ndarray:
    return sf.read(DATA / "unseen-us3.flac", dtype="float32")[0]


def _scene_pos(panel, frame: float, band: float) -> QPointF:
    scene = panel.image.mapToScene(QPointF(frame, band))
    return QPointF(panel.plot.mapFromScene(scene))


def drag(panel, points: list[tuple[float, float]]) -> None:
    """A real left-button drag over the spectrogram, through (frame, band) points."""
    QApplication.processEvents()          # let the view settle its range first
    vp = panel.plot.viewport()
    pos = [_scene_pos(panel, f, b) for f, b in points]

    def send(kind, p, buttons):
        ev = QMouseEvent(kind, p, vp.mapToGlobal(p), Qt.MouseButton.LeftButton, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)
        QApplication.processEvents()

    send(QEvent.Type.MouseButtonPress, pos[0], Qt.MouseButton.LeftButton)
    for a, b in zip(pos[:-1], pos[1:]):
        for k in range(1, 5):
            # pyqtgraph drops mouse moves that come faster than a screen refreshes.
            time.sleep(0.02)
            send(QEvent.Type.MouseMove, a + (b - a) * (k / 4), Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, pos[-1], Qt.MouseButton.NoButton)


def test_panel_is_in_the_window_and_analysis_comes_from_the_vocoder(studio, tmp_path):
    from tests.models.test_hifigan import reference, write_jik876

    win, panel = studio
    assert "spectral" in win.panels
    info = win.registry.add_checkpoint(write_jik876(tmp_path / "hg", reference("new")))
    panel.backend_changed()
    panel.set_vocoder(info.name)
    assert panel.mel_settings == info.mel and panel.rate == 8000
    panel.load_audio(tone(1.0, rate=8000), 8000)
    assert panel.mel0.shape == (20, 8000 // 16)
    panel.set_vocoder("griffinlim")
    assert panel.mel_settings.n_mels == 80 and panel.rate == 16000
    win.jobs.wait_until_idle(30)                     # the clip is re-analysed in the runner
    assert panel.mel0.shape == (80, 16000 // 256)   # the clip re-analysed, not lost
    # With edits made, switching to a vocoder that analyses differently is refused, clearly.
    panel.apply_edit({"op": "delete", "rect": [0, 10, 0, 10]})
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    panel.set_vocoder(info.name)
    assert errors and "other settings" in errors[0]
    assert panel.vocoder_name == "griffinlim" and panel.mel_settings.n_mels == 80


def test_open_file_in_background_and_bad_files_keep_the_clip(studio, qtbot, tmp_path):
    win, panel = studio
    panel.open_file(str(DATA / "unseen-us3.flac"))
    assert win.jobs.wait_until_idle(30)
    assert panel.original.size == speech().size
    (tmp_path / "x.wav").write_text("hello")
    panel.open_file(str(tmp_path / "x.wav"))
    assert win.jobs.wait_until_idle(30)
    assert "not an audio file" in win.status.error_label.text()
    assert panel.original.size == speech().size            # what it had, kept
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    panel.open_file(str(tmp_path / "empty.wav"))
    assert win.jobs.wait_until_idle(30)
    assert "no audio" in win.status.error_label.text()


def test_brush_and_eraser_by_mouse_with_undo(studio):
    win, panel = studio
    panel.load_audio(speech(), 16000)
    panel.set_tool("brush")
    panel.gain_spin.setValue(-20)
    panel.size_spin.setValue(4)
    drag(panel, [(40, 20), (80, 30), (120, 20)])
    assert [op["op"] for op in panel.ops] == ["brush"]
    assert len(panel.ops[0]["points"]) > 3
    changed = panel.mel < panel.mel0 - 1e-4
    assert changed[:, 60:100].any() and not changed[:, 150:].any()
    panel.set_tool("eraser")
    drag(panel, [(150, 40), (160, 40)])
    assert panel.ops[-1]["op"] == "erase"
    assert panel.mel[40, 155] == pytest.approx(edits.FLOOR)
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    assert np.array_equal(panel.mel, panel.mel0) and panel.ops == []
    panel.undo_stack.redo()
    assert len(panel.ops) == 1 and not np.array_equal(panel.mel, panel.mel0)


def test_selection_gain_delete_copy_paste_and_move_by_mouse(studio):
    win, panel = studio
    panel.load_audio(speech(), 16000)
    panel.set_tool("select")
    drag(panel, [(20, 10), (60, 40)])
    t0, t1, f0, f1 = panel.selection
    assert abs(t0 - 20) <= 1 and abs(t1 - 60) <= 1 and abs(f0 - 10) <= 1 and abs(f1 - 40) <= 1
    panel.gain_spin.setValue(-10)
    panel.gain_selection()
    assert np.allclose(panel.mel[f0:f1, t0:t1], np.maximum(
        panel.mel0[f0:f1, t0:t1] - 10 * edits.DB_TO_LN, edits.FLOOR))
    panel.copy_selection()
    patch = panel.clipboard.copy()
    panel.doc.set_cursor(150)
    panel.paste()
    assert np.array_equal(panel.mel[f0:f1, 150:150 + (t1 - t0)], patch)
    # Drag inside the (pasted) selection: it moves.
    s = panel.selection
    drag(panel, [(s[0] + 5, s[2] + 5), (s[0] + 25, s[2] + 5)])
    assert panel.ops[-1]["op"] == "move"
    assert panel.selection[0] == s[0] + 20
    panel.delete_selection()
    a, b, c, d = panel.selection
    assert np.all(panel.mel[c:d, a:b] == edits.FLOOR)
    assert [op["op"] for op in panel.ops] == ["gain", "paste", "move", "delete"]
    for _ in range(4):
        panel.undo_stack.undo()
    assert np.array_equal(panel.mel, panel.mel0)


def test_readout_shows_time_frequency_and_level(studio):
    win, panel = studio
    panel.load_audio(tone(1.0, 1000.0), 16000)
    text = panel.readout_at(31.2, 40)
    assert text.startswith("t 0.496 s") and " Hz " in text and text.endswith(" dB")
    # The level where the 1 kHz tone is, is the loudest band of that frame.
    band = int(np.argmax(panel.mel[:, 31]))
    loud = float(panel.readout_at(31, band).split()[-2])
    quiet = float(panel.readout_at(31, 75).split()[-2])
    assert loud > quiet + 30
    panel.view_combo.setCurrentIndex(1)          # linear view: the bins are FFT bins
    assert panel._shown_db.shape[0] == 513
    assert not panel.tool_buttons["brush"].isEnabled()
    assert not any(b.isEnabled() for b in panel.selection_buttons)
    panel.view_combo.setCurrentIndex(0)
    assert panel.tool_buttons["brush"].isEnabled() and panel.selection_buttons[0].isEnabled()


def test_vocode_whole_then_only_the_edited_region(studio):
    win, panel = studio
    x = speech()
    panel.load_audio(x, 16000)
    panel.vocode()
    assert win.jobs.wait_until_idle(60)
    first = panel.result.copy()
    assert first.size == x.size and panel.listening == "B" and panel.ab_b.isChecked()
    panel.apply_edit({"op": "delete", "rect": [100, 120, 0, 80]})
    assert panel.region_btn.isEnabled()
    panel.vocode(region=True)
    assert win.jobs.wait_until_idle(60)
    hop = 256
    lo, hi = (100 - 8) * hop, (120 + 8) * hop
    assert np.array_equal(panel.result[:lo], first[:lo])
    assert np.array_equal(panel.result[hi:], first[hi:])
    mid = slice(105 * hop, 115 * hop)
    assert np.abs(panel.result[mid]).max() < 0.1 * np.abs(first[mid]).max()
    assert not panel.region_btn.isEnabled()
    panel.set_listening("A")
    assert panel.current_audio() is panel.original


def test_session_replays_the_edits(studio, tmp_path):
    win, panel = studio
    panel.load_audio(speech(), 16000)
    panel.apply_edit({"op": "brush", "points": [[30, 20], [60, 25]], "size": 3,
                      "softness": 0.5, "gain_db": 9})
    panel.set_selection(10, 40, 5, 30)
    panel.copy_selection()
    panel.paste((100, 5))
    edited = panel.mel.copy()
    assert win.write_session(tmp_path / "s.lsession")
    panel.load_audio(tone(0.5), 16000)
    assert win.open_session(tmp_path / "s.lsession")
    assert np.array_equal(panel.mel, edited)
    assert [op["op"] for op in panel.ops] == ["brush", "paste"]
    assert panel.selection == (100, 130, 5, 30)


def test_export_writes_original_and_vocoded(studio, tmp_path):
    win, panel = studio
    panel.load_audio(speech(), 16000)
    assert [p.name for p in panel.export_to(str(tmp_path / "take.wav"))] == [
        "take-original.wav"]
    panel.vocode()
    assert win.jobs.wait_until_idle(60)
    paths = panel.export_to(str(tmp_path / "take.wav"))
    assert [p.name for p in paths] == ["take-original.wav", "take-vocoded.wav"]
    for p in paths:
        info = sf.info(p)
        assert info.samplerate == 16000 and info.frames == panel.original.size


def test_export_keeps_the_inputs_own_rate_also_after_a_session(studio, tmp_path):
    win, panel = studio
    x = tone(1.0, rate=44100)
    panel.load_audio(x, 44100)                  # analysed at the vocoder's 16 kHz
    assert panel.rate == 16000
    panel.vocode()
    assert win.jobs.wait_until_idle(60)
    orig, voc = panel.export_to(str(tmp_path / "take"))
    a, ra = sf.read(orig, dtype="float32")
    b, rb = sf.read(voc, dtype="float32")
    assert ra == rb == 44100 and a.size == b.size == x.size
    assert np.abs(a - x).max() <= 1 / 32767 + 1e-6           # the take itself, 16-bit
    state = panel.state()
    panel.load_audio(tone(0.5), 16000)
    panel.restore_state(state)
    assert sf.info(panel.export_to(str(tmp_path / "again"))[0]).samplerate == 44100


# --- real devices (a PulseAudio null sink) ---------------------------------------------------

def wait_for(qtbot, cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        qtbot.wait(20)


def test_record_and_vocode_through_the_virtual_device(studio, qtbot, virtual_audio):
    from studio import audio

    win, panel = studio
    panel.set_vocoder("vocoder-speech")
    panel._refresh_devices()
    assert panel.device_combo.currentData() is not None
    voice = audio.Player()                      # "the speaker" in the room
    panel.vocode_on_stop.setChecked(True)
    panel.record_btn.click()
    assert panel.recorder.recording
    voice.play(tone(1.5, 440.0), 16000)
    wait_for(qtbot, lambda: panel.meter.value() > -20)          # the meter moves
    # The take is drawn live (analysed by the vocoder in the runner) while it records.
    wait_for(qtbot, lambda: panel.image.image is not None and panel.image.image.shape[1] > 20)
    wait_for(qtbot, lambda: not voice.playing)
    qtbot.wait(200)
    assert panel.elapsed.text().endswith(" s") and float(panel.elapsed.text()[:-2]) > 1.0
    panel.record_btn.click()                                     # stop: vocode and play
    assert not panel.recorder.recording
    wait_for(qtbot, lambda: panel.original.size > 0)            # analysed off the UI thread
    take = panel.original.copy()
    spec = np.abs(np.fft.rfft(take))
    assert abs(np.argmax(spec) * 16000 / take.size - 440) < 5
    assert np.abs(take).max() > 0.2
    wait_for(qtbot, lambda: panel.result is not None, 30)
    assert panel.listening == "B" and panel.player.playing
    assert 0 < panel.last_timing["stop_to_play_s"] < 10
    # The cursor follows playback.
    wait_for(qtbot, lambda: panel.playhead.value() > 0.2)
    panel.toggle_play()
    assert not panel.player.playing


def test_loop_a_selection_plays_it_again_and_again(studio, qtbot, virtual_audio):
    win, panel = studio
    panel.load_audio(tone(3.0), 16000)
    panel.set_selection(62, 94, 0, 80)             # about 1.0 to 1.5 s
    panel.loop_box.setChecked(True)
    panel.play()
    positions = []
    # A sound server that has just started can play slowly at first: watch up to 3 s.
    for _ in range(100):
        qtbot.wait(30)
        positions.append(panel.player.position)
        if len(positions) > 20 and any(b < a for a, b in zip(positions, positions[1:])):
            break
    panel.toggle_play()
    assert min(positions) >= 62 * 256 - 1 and max(positions) < 94 * 256
    assert any(b < a for a, b in zip(positions, positions[1:]))      # it wrapped around


def test_device_vanishing_while_recording_keeps_the_take(studio, qtbot, virtual_audio):
    from studio import audio

    win, panel = studio
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    panel.start_recording()
    wait_for(qtbot, lambda: panel.recorder.seconds > 0.5)
    try:
        virtual_audio.remove_sink()
        wait_for(qtbot, lambda: errors, 10)
    finally:
        virtual_audio.stop()
        virtual_audio.start()
        audio.refresh_devices()
    assert "Recording stopped" in errors[0] and "kept the" in errors[0]
    assert not panel.recorder.recording
    wait_for(qtbot, lambda: panel.original.size > 8000)


def test_no_input_device_is_a_clear_message(studio, monkeypatch):
    from studio import audio

    win, panel = studio
    monkeypatch.setattr(audio, "devices", lambda kind="input": [])
    monkeypatch.setattr(audio, "refresh_devices", lambda: None)
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    panel._rescan_devices()                      # the input went away; the list says so
    panel.record_btn.click()
    assert errors and "no audio input device" in errors[0]
    assert not panel.record_btn.isChecked() and not panel.recorder.recording


def test_a_new_clip_can_be_undone_and_marks_the_session_changed(studio, qtbot, tmp_path):
    win, panel = studio
    panel.load_audio(speech(), 16000)
    panel.apply_edit({"op": "gain", "rect": [10, 40, 0, 40], "gain_db": -20.0})
    win.write_session(tmp_path / "s.lsession")
    assert not win.is_dirty()
    edited = panel.mel.copy()
    sf.write(tmp_path / "other.wav", tone(1.0), 16000)
    panel.open_file(str(tmp_path / "other.wav"))          # replaces clip and edits
    assert win.jobs.wait_until_idle(30)
    assert panel.original.size == 16000 and panel.ops == []
    assert win.is_dirty() and win.windowTitle().startswith("s.lsession *")
    panel.undo_stack.undo()                                # Ctrl+Z brings them back
    assert panel.original.size == speech().size and len(panel.ops) == 1
    assert np.array_equal(panel.mel, edited)
    panel.undo_stack.undo()                                # and then the edit itself
    assert panel.ops == []
    panel.undo_stack.redo()
    panel.undo_stack.redo()
    assert panel.original.size == 16000


def test_a_take_is_undoable_and_asks_before_quitting(studio, qtbot, virtual_audio, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    win, panel = studio
    panel.load_audio(speech(), 16000)
    win.panels["spectral"].mark_saved()
    assert not win.is_dirty()
    panel._refresh_devices()
    panel.start_recording()
    wait_for(qtbot, lambda: panel.recorder.seconds > 0.3)
    panel.stop_recording()
    assert win.jobs.wait_until_idle(10)
    assert panel.original.size != speech().size and win.is_dirty()
    monkeypatch.delenv("LATENT_STUDIO_NO_PROMPT")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Cancel)
    assert not win.close() and asked                     # Ctrl+Q asks first
    panel.undo_stack.undo()
    assert panel.original.size == speech().size


def test_the_first_take_starts_when_record_is_pressed(qtbot, virtual_audio):
    """A fresh window opens its input at startup, so the first take is not cut short by the
    sound server's slow start of a new stream."""
    win = MainWindow(registry=Registry())
    qtbot.addWidget(win)
    win.show()
    panel = win.show_panel("spectral")
    try:
        assert panel.device_combo.currentData() is not None
        wait_for(qtbot, lambda: panel.recorder.live, 10)   # armed and flowing before Record
        qtbot.wait(1500)                 # a user presses Record a moment after the window opens
        held = 1.0
        t0 = time.perf_counter()
        panel.record_btn.click()
        assert time.perf_counter() - t0 < 0.1              # Record does not wait for a stream
        wait_for(qtbot, lambda: time.perf_counter() - t0 >= held, 5)
        panel.record_btn.click()
        assert win.jobs.wait_until_idle(10)
        got = panel.original.size / panel.rate
        assert got > held - 0.25, f"held Record {held} s, got {got:.2f} s of audio"
        assert panel.recorder.start_delay is not None and panel.recorder.start_delay < 0.2
    finally:
        win.close()


def test_an_empty_spectrogram_has_meaningful_axes(studio):
    win, panel = studio
    assert panel.frames == 0
    (x0, x1), (y0, y1) = panel.plot.getViewBox().viewRange()
    assert x0 >= 0 and x1 > 1 and y0 >= 0 and y1 <= panel.mel_settings.n_mels + 1
    ticks = panel.plot.getAxis("left")._tickLevels[0]
    assert any(label in ("1k", "2k", "4k") for _, label in ticks)
    assert panel.empty_text.isVisible()
    panel.load_audio(tone(1.0), 16000)
    assert not panel.empty_text.isVisible()


@pytest.mark.parametrize("kind", ["bigvgan", "vocos"])
def test_bigvgan_and_vocos_folders_edit_and_vocode_in_the_panel(studio, tmp_path, kind):
    """Users' BigVGAN and Vocos folders (tiny, built by their packages) drive the editor
    with their own analysis; the screenshot is kept under LATENT_STUDIO_SHOTS."""
    import os

    if kind == "bigvgan":
        from tests.models.test_bigvgan import build
    else:
        from tests.models.test_vocos_package import build
    win, panel = studio
    info = win.registry.add_checkpoint(build(tmp_path / kind))
    panel.backend_changed()
    panel.set_vocoder(info.name)
    assert panel.mel_settings == info.mel and panel.rate == 8000
    panel.load_audio(speech(), 16000)             # resampled to the vocoder's own rate
    win.jobs.wait_until_idle(60)
    backend = win.registry.get(info.name)
    assert panel.mel0.shape[0] == info.mel.n_mels
    assert np.array_equal(panel.mel0, backend.analyse(panel.original))
    panel.vocode()
    assert win.jobs.wait_until_idle(60)
    assert panel.result.size == panel.original.size and np.isfinite(panel.result).all()
    shot = win.grab()
    if os.environ.get("LATENT_STUDIO_SHOTS"):
        shot.save(os.path.join(os.environ["LATENT_STUDIO_SHOTS"], f"spectral-{kind}.png"))


def test_a_stroke_with_the_default_brush_can_be_seen(studio):
    """On speech and on silence: the colours under the stroke's core change by at least a
    sixth of the colour range (the old default, -12 dB, left silence exactly as it was)."""
    win, panel = studio
    clip = np.concatenate([np.zeros(8000, np.float32), speech()[:16000]])
    panel.load_audio(clip, 16000)
    from models.audio.features import mel_to_db

    lo_hi = tuple(float(v) for v in panel.plot.image.getLevels())

    def shown(mel):
        return np.clip(mel_to_db(mel), *lo_hi)

    before = shown(panel.mel)
    frames = panel.frames
    panel.set_tool("brush")
    for start in (5, frames - 40):                # in the silence, then in the speech
        op = panel._stroke_op([[start, 30], [start + 30, 30]])
        after = shown(edits.apply(panel.mel, op))
        core = np.s_[28:33, start + 2:start + 28]
        change = float(np.abs(after[core] - before[core]).mean()) / (lo_hi[1] - lo_hi[0])
        assert change >= 1 / 6, (start, change)


def test_playback_is_gapless_beside_a_job_and_a_stutter_is_said(studio, qtbot, virtual_audio):
    """A clip plays to its end on the (virtual) device, every block following the one
    before and the device never running dry, while the window vocodes in the background."""
    win, panel = studio
    panel.load_audio(speech()[:24000], 16000)
    panel.params.set_value("iters", 32)
    panel.vocode()                                   # a job running while it plays
    panel.play()
    qtbot.waitUntil(lambda: not panel.player.playing, timeout=10000)
    win.jobs.wait_until_idle(30)
    assert panel.player.gaps == 0 and panel.player.underflows == 0
    messages = []
    panel.message.connect(messages.append)
    qtbot.wait(100)
    assert not any("stuttered" in m for m in messages)
    # When the device does run dry, the user is told (not only ALSA's log).
    panel.play()
    panel.player.underflows = 3
    panel.player.stop()
    qtbot.waitUntil(lambda: any("stuttered 3 time(s)" in m for m in messages), timeout=3000)
