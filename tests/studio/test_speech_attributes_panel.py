"""The Speech attributes panel over a tiny seeded generator and Griffin-Lim."""

import numpy as np
import pytest
import soundfile as sf

from models.audio.io import read_audio
from models.registry import Registry
from studio.app import MainWindow
from studio.session import load_session, save_session
from studio.state.speech_attributes import SpeechAttributesDoc
from tests.models.test_ancogen import make_tiny_ancogen, make_tiny_generator
from tests.models.test_audio import DATA


@pytest.fixture
def win(qtbot, tmp_path):
    folder = tmp_path / "weights"
    make_tiny_generator(folder)
    make_tiny_ancogen(folder)
    w = MainWindow(registry=Registry(folder))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    w.close()


def settle(panel, qtbot):
    for _ in range(3):
        panel.ctx.jobs.wait_until_idle(30)
        qtbot.wait(20)


@pytest.fixture
def panel(win, qtbot):
    p = win.show_panel("speech_attributes")
    p.model_combo.select("tiny-gen")
    p.vocoder_combo.select("griffinlim")
    p.load_audio(read_audio(DATA / "unseen-fr4.flac", 16000).audio, 16000, "fr4")
    settle(p, qtbot)
    return p


def test_doc_changes_curves_and_state():
    d = SpeechAttributesDoc(pitch=2.0, snr=30.0)
    assert d.changes() == {"pitch": 2.0, "snr": 30.0} and d.edited
    f0 = np.array([0, 100, 110, 120, 0], np.float32)
    assert d.curves(f0) == {}
    d.draw(5, [(1.0, 200.0), (3.0, 240.0)])
    assert np.allclose(d.curves(f0)["pitch"], [0, 200, 220, 240, 0])
    back = SpeechAttributesDoc.from_state({**d.state(), "pitch": 99.0, "c50": -50})
    assert back.pitch == 12.0 and back.c50 == -5.0 and np.allclose(
        back.drawn, d.drawn, equal_nan=True)
    assert not SpeechAttributesDoc().edited


def test_analysis_is_drawn_and_sliders_undo(panel, qtbot):
    assert panel.analysis is not None and panel.mel.shape[0] == 80
    assert panel.regen_button.isEnabled()
    x, y = panel.pitch_item.getData()
    assert x.size == panel.mel.shape[1]
    panel.pitch_slider.setValue(35)
    panel.pitch_slider.setValue(40)                     # one drag: one undo step
    assert panel.doc.pitch == 4.0
    target = panel.target_f0()
    voiced = panel.analysis["f0_hz"] > 0
    assert np.allclose(target[voiced], panel.analysis["f0_hz"][voiced] * 2 ** (4 / 12),
                       rtol=1e-4)
    panel.snr_check.setChecked(True)
    assert panel.doc.snr == 50.0
    panel.undo_stack.undo()
    assert panel.doc.snr is None and panel.doc.pitch == 4.0
    panel.undo_stack.undo()
    assert panel.doc.pitch == 0.0 and panel.pitch_slider.value() == 0


def test_drawn_pitch_regenerate_ab_and_export(panel, qtbot, tmp_path, win):
    panel.draw_button.setChecked(True)
    hop = 256 / 16000
    band = float(panel._hz_to_band(np.array([300.0]))[0])
    panel.plot.image.stroke.emit([[10 * hop, band], [40 * hop, band]], True)
    assert np.allclose(panel.doc.drawn[10:41], 300.0, rtol=0.02)
    assert np.isnan(panel.doc.drawn[0])
    panel.pitch_slider.setValue(20)
    panel.regenerate()
    settle(panel, qtbot)
    assert panel.result is not None and panel.result.size == panel.doc.audio.size
    assert panel.listening == "B" and panel.current and panel.export_button.isEnabled()
    panel.switch_ab()
    assert panel.listening == "A"
    out = panel.export_to(str(tmp_path / "edited.wav"))
    y, rate = sf.read(out)
    assert rate == 16000 and len(y) == panel.result.size
    # Its recipe (the clip and the drawn curve) makes the same file again.
    from models.recipe import read_recipe
    from models.tasks import runner

    recipe = read_recipe(out)
    assert recipe.task == "attributes-edit" and "curve-pitch" in recipe.arrays
    (tmp_path / "replay").mkdir()
    runner.run(panel.ctx.registry, recipe, tmp_path / "replay" / "edited.wav")
    assert (tmp_path / "replay" / "edited.wav").read_bytes() == out.read_bytes()
    # Dropped on the window, the edit comes back: clip, changes, curve; Apply remakes it.
    edited = panel.result.copy()
    panel.load_audio(np.zeros(8000, np.float32) + 0.01, 16000, "other")
    settle(panel, qtbot)
    win.open_file(str(out))
    settle(panel, qtbot)
    assert panel.doc.label == "the recipe's clip" and panel.doc.pitch == 2.0
    assert np.array_equal(panel.doc.audio, recipe.arrays["audio"])
    assert panel.doc.drawn is not None and np.isfinite(panel.doc.drawn).all()
    panel.regenerate()
    settle(panel, qtbot)
    assert np.array_equal(panel.result, edited)
    assert panel.export_to(str(tmp_path / "no-extension")) == tmp_path / "no-extension.wav"
    errors = []
    panel.error.connect(lambda m, _d: errors.append(m))
    assert panel.export_to(str(tmp_path / "missing" / "x.wav")) is None
    assert errors == [f"{tmp_path / 'missing' / 'x.wav'}: folder {tmp_path / 'missing'} "
                      "does not exist"]
    panel.pitch_slider.setValue(30)                     # the result is of older settings
    assert not panel.current


def test_analysis_only_model_cannot_regenerate(panel, qtbot):
    panel.model_combo.select("tiny-attributes")
    settle(panel, qtbot)
    assert panel.analysis is not None and not panel.regen_button.isEnabled()


def test_clip_from_the_spectrogram_editor_and_sessions(win, panel, qtbot, tmp_path):
    spectral = win.panels["spectral"]
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)).astype(np.float32)
    spectral.load_audio(tone, 16000)
    settle(spectral, qtbot)
    panel.take_button.click()
    settle(panel, qtbot)
    assert panel.doc.audio.size == spectral.original.size and panel.analysis is not None
    panel.undo_stack.undo()                              # back to the French clip
    assert panel.doc.label == "fr4"
    panel.pitch_slider.setValue(-25)
    path = save_session(tmp_path / "s.lsession", {"speech_attributes": panel.state()})
    panel.reset()
    assert panel.doc.pitch == 0.0
    panel.restore_state(load_session(path)["speech_attributes"])
    settle(panel, qtbot)
    assert panel.doc.pitch == -2.5 and panel.doc.label == "fr4" and panel.analysis is not None


def test_record_here_then_play_and_switch_a_b_at_the_same_moment(panel, qtbot, virtual_audio):
    from studio import audio
    from tests.studio.test_spectral_panel import tone, wait_for

    voice = audio.Player()                      # "the speaker" in the room
    panel.record_button.click()
    assert panel.recorder.recording
    voice.play(tone(1.2, 220.0), 16000)
    wait_for(qtbot, lambda: not voice.playing)
    # "Not playing" means every sample was handed to the sound server, which still holds
    # some: record until the take is longer than the tone (a loaded machine gave 0.998 s).
    wait_for(qtbot, lambda: panel.recorder.seconds >= 1.4)
    panel.record_button.click()
    assert not panel.recorder.recording and panel.doc.label == "recording"
    settle(panel, qtbot)
    take = panel.doc.audio
    assert take.size > 16000 and np.abs(take).max() > 0.1
    f0 = panel.analysis["f0_hz"]
    assert panel.analysis is not None and f0.size == panel.mel.shape[1]
    panel.pitch_slider.setValue(30)
    panel.regenerate()
    settle(panel, qtbot)
    assert panel.listening == "B"
    wait_for(qtbot, lambda: panel.player.playing and panel.player.position > 4000)
    panel.switch_ab()                                   # to A, from where B was
    assert panel.listening == "A" and panel.player.playing
    assert panel.player.position > 3000
    panel.toggle_play()
    assert not panel.player.playing


def test_the_recording_is_kept_unless_the_whole_clip_is_regenerated(panel, qtbot):
    messages = []
    panel.message.connect(messages.append)
    assert panel.formants_check.isChecked() and not panel.whole_check.isChecked()
    panel.pitch_slider.setValue(30)
    panel.regenerate()
    settle(panel, qtbot)
    assert any(m.startswith("Speech attributes: shifted") for m in messages)
    assert panel.current
    panel.whole_check.setChecked(True)                  # one undo step; the result is stale
    assert panel.doc.regenerate and not panel.current
    panel.regenerate()
    settle(panel, qtbot)
    assert any(m.startswith("Speech attributes: regenerated") for m in messages)
    panel.undo_stack.undo()
    assert not panel.doc.regenerate and not panel.whole_check.isChecked()
    panel.formants_check.setChecked(False)
    state = panel.doc.state()
    assert state["keep_formants"] is False
    assert SpeechAttributesDoc.from_state(state).keep_formants is False
    assert SpeechAttributesDoc.from_state({}).keep_formants is True     # older sessions


def test_a_clean_up_filters_the_recording_and_shows_what_is_heard(panel, qtbot):
    messages = []
    panel.message.connect(messages.append)
    panel.snr_check.setChecked(True)                    # 50 dB: the top of the scale
    panel.regenerate()
    settle(panel, qtbot)
    assert any("cleaned" in m for m in messages)
    assert panel.result.size == panel.doc.audio.size
    assert panel.result_mel.shape == panel.mel.shape and panel.listening == "B"


def test_bad_files_and_short_clips_are_messages(panel, qtbot, tmp_path):
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    panel.open_file(str(bad))
    settle(panel, qtbot)
    assert errors and "notes.wav" in errors[-1] and panel.doc.label == "fr4"
    panel.load_audio(np.zeros(1000, np.float32), 16000, "click")
    assert "shorter than 0.25 s" in errors[-1] and panel.doc.label == "fr4"


def test_without_a_clip_the_view_says_what_to_do(win):
    p = win.show_panel("speech_attributes")
    assert p.plot.empty_text.isVisible()
    assert "Open, record" in p.plot.empty_text.toPlainText()
    x0, x1 = p.plot.getViewBox().viewRange()[0]
    assert x0 == pytest.approx(0.0, abs=0.01) and x1 == pytest.approx(4.0, abs=0.01)
    assert not p.regen_button.isEnabled() and not p.play_button.isEnabled()


def test_an_export_keeps_the_clips_own_rate_unless_asked(panel, qtbot, tmp_path):
    from models.audio.io import resample

    clip = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    panel.load_audio(resample(clip, 16000, 44100), 44100, "fr4 at 44.1 kHz")
    settle(panel, qtbot)
    panel.pitch_slider.setValue(20)
    panel.regenerate()
    settle(panel, qtbot)
    y, rate = sf.read(panel.export_to(str(tmp_path / "edited.wav")))
    assert rate == 44100 and abs(len(y) - panel.result.size * 44100 / 16000) <= 2
    from models.recipe import read_recipe
    from models.tasks import runner

    (tmp_path / "replay").mkdir()
    runner.run(panel.ctx.registry, read_recipe(tmp_path / "edited.wav"),
               tmp_path / "replay" / "edited.wav")
    assert (tmp_path / "replay" / "edited.wav").read_bytes() == \
        (tmp_path / "edited.wav").read_bytes()
    y, rate = sf.read(panel.export_to(str(tmp_path / "asked.wav"), rate=16000))
    assert rate == 16000 and len(y) == panel.result.size
    again = type(panel.doc).from_state(panel.state())          # kept in sessions
    assert again.source_rate == 44100
