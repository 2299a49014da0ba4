"""Spectral analysis, Griffin-Lim, edits, audio files and the shipped neural vocoder."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from models.audio import edits
from models.audio.features import (
    log_mel,
    mel_distance,
    mel_frequencies,
    mrstft_distance,
)
from models.audio.griffinlim import GriffinLimBackend
from models.audio.io import AudioFileError, fit_length, read_audio, write_wav
from models.protocol import Capability, MelSettings
from models.registry import Registry

DATA = __import__("pathlib").Path(__file__).resolve().parent.parent / "data"
S = MelSettings()


def vowel(seconds: float = 1.0, f0: float = 140.0, rate: int = 16000) -> np.ndarray:
    """A glottal-pulse-like harmonic tone with a formant-ish envelope and vibrato."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / rate
    y = sum(np.sin(k * phase) / k * np.exp(-((k * f0 - 700) / 900) ** 2) for k in range(1, 40))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def test_log_mel_shape_and_floor():
    x = vowel(1.0)
    m = log_mel(x, S)
    assert tuple(m.shape) == (80, x.size // S.hop)
    silent = log_mel(np.zeros(4096, np.float32), S)
    assert float(silent.max()) == pytest.approx(np.log(1e-5), abs=1e-3)
    f = mel_frequencies(S)
    assert f.shape == (80,) and np.all(np.diff(f) > 0) and 0 < f[0] < 60 and 7000 < f[-1] < 8000


def test_distances_are_zero_for_identity_and_grow_with_damage():
    x = vowel(1.0)
    assert mrstft_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert mel_distance(x, x, S) == pytest.approx(0.0, abs=1e-6)
    noisy = x + 0.05 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    assert mrstft_distance(noisy, x) > 0.1
    assert mel_distance(noisy, x, S) > mel_distance(x + 0.001, x, S)


def test_griffinlim_length_alignment_and_iterations_help():
    x = vowel(1.0)
    gl = GriffinLimBackend(S)
    mel = log_mel(x, S).numpy()
    y32 = gl.vocode(mel)
    assert y32.shape == (mel.shape[1] * S.hop,)
    y1 = gl.vocode(mel, iters=1)
    n = y32.size
    assert mrstft_distance(y32, x[:n]) < mrstft_distance(y1, x[:n])
    # Same mel, same seed: the same audio.
    assert np.array_equal(gl.vocode(mel), y32)
    # Aligned with the input: shifting by half a hop makes it worse.
    assert mel_distance(y32, x[:n], S) < mel_distance(np.roll(y32, S.hop // 2), x[:n], S)
    with pytest.raises(ValueError, match="at least 1"):
        gl.vocode(mel, iters=0)


def test_registry_offers_griffinlim_and_the_shipped_vocoder_with_mel_settings():
    reg = Registry()
    infos = {i.name: i for i in reg.infos(Capability.VOCODE)}
    assert {"griffinlim", "vocoder-speech"} <= set(infos)
    for info in infos.values():
        assert info.mel == S
    assert infos["griffinlim"].path == ""
    assert infos["vocoder-speech"].to_json()["mel"]["hop"] == 256


def test_shipped_vocoder_card_says_it_beats_griffinlim():
    import json

    from models.registry import WEIGHTS_DIR

    card = json.loads((WEIGHTS_DIR / "vocoder-speech.json").read_text())
    m = card["metrics"]
    assert m["test_mrstft"] < m["griffinlim32_test_mrstft"]
    assert m["test_mel_distance"] < m["griffinlim32_test_mel_distance"]
    assert m["rtf_10s"] <= 0.1
    assert card["data"]["test_voices_unseen"]
    assert "non-commercial" in card["data"]["licence"]


@pytest.mark.parametrize("name", ["unseen-us3", "unseen-fr4"])
def test_shipped_vocoder_beats_griffinlim_on_unseen_voices(name):
    reg = Registry()
    ours, gl = reg.get("vocoder-speech", "cpu"), reg.get("griffinlim", "cpu")
    x = read_audio(DATA / f"{name}.flac", 16000).audio
    mel = ours.analyse(x)
    y, g = ours.vocode(mel), gl.vocode(mel)
    n = min(y.size, g.size)
    assert mrstft_distance(y[:n], x[:n]) < mrstft_distance(g[:n], x[:n])
    assert mel_distance(y[:n], x[:n], S) < mel_distance(g[:n], x[:n], S)


# --- edits ---------------------------------------------------------------------------------

def _mel() -> np.ndarray:
    return np.full((80, 100), -2.0, np.float32)


def test_brush_adds_gain_under_the_stroke_only():
    m = _mel()
    out = edits.apply(m, {"op": "brush", "points": [[10, 10], [30, 10]], "size": 3,
                          "softness": 0.0, "gain_db": -20})
    drop = -20 * edits.DB_TO_LN
    assert out[10, 20] == pytest.approx(-2.0 + drop, abs=1e-5)    # on the line (filled gap)
    assert out[40, 20] == -2.0 and out[10, 60] == -2.0            # elsewhere untouched
    soft = edits.apply(m, {"op": "brush", "points": [[50, 40]], "size": 6, "softness": 1.0,
                           "gain_db": -20})
    assert soft[40, 50] < soft[40, 53] < soft[40, 55] <= -2.0      # fades out to the edge
    assert np.array_equal(m, _mel())                               # input left as it was


def test_eraser_delete_gain_paste_and_move():
    m = np.random.default_rng(0).normal(-3, 1, (80, 100)).astype(np.float32)
    er = edits.apply(m, {"op": "erase", "points": [[50, 40]], "size": 4, "softness": 0})
    assert er[40, 50] == pytest.approx(edits.FLOOR)
    de = edits.apply(m, {"op": "delete", "rect": [10, 20, 5, 15]})
    assert np.all(de[5:15, 10:20] == edits.FLOOR) and de[4, 10] == m[4, 10]
    ga = edits.apply(m, {"op": "gain", "rect": [20, 10, 15, 5], "gain_db": 6})   # any corner order
    assert np.allclose(ga[5:15, 10:20] - m[5:15, 10:20], 6 * edits.DB_TO_LN)
    patch = edits.copy_patch(m, [0, 10, 0, 80])
    pa = edits.apply(m, {"op": "paste", "patch": patch, "at": [95, 0]})   # clipped at the end
    assert np.array_equal(pa[:, 95:], m[:, 0:5])
    mv = edits.apply(m, {"op": "move", "rect": [10, 20, 0, 80], "to": [50, 0]})
    assert np.array_equal(mv[:, 50:60], m[:, 10:20])
    assert np.all(mv[:, 10:20] == edits.FLOOR)


def test_replay_equals_step_by_step_and_frames_touched():
    m = _mel()
    ops = [{"op": "gain", "rect": [10, 20, 0, 10], "gain_db": 3},
           {"op": "brush", "points": [[60, 5]], "size": 2, "softness": 0.5, "gain_db": -6}]
    step = edits.apply(edits.apply(m, ops[0]), ops[1])
    assert np.array_equal(edits.replay(m, ops), step)
    assert edits.frames_touched(ops, 100) == (10, 63)
    assert edits.frames_touched([], 100) is None
    with pytest.raises(ValueError, match="unknown edit"):
        edits.apply(m, {"op": "smudge"})


def test_splice_crossfades_and_keeps_the_rest():
    base = np.ones(1000, np.float32)
    out = edits.splice(base, np.zeros(200, np.float32), 400, fade=50)
    assert np.array_equal(out[:400], base[:400]) and np.array_equal(out[600:], base[600:])
    assert np.all(out[450:550] == 0)
    assert np.all(np.diff(out[400:450]) < 0)          # a smooth fade, not a click


# --- files ---------------------------------------------------------------------------------

def test_read_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], 1).astype(np.float32)
    sf.write(tmp_path / "s.flac", 0.5 * stereo, 44100)
    clip = read_audio(tmp_path / "s.flac", 16000)
    assert clip.audio.ndim == 1 and abs(clip.audio.size - 16000) <= 1
    assert clip.source_rate == 44100 and clip.source_channels == 2
    assert np.abs(clip.audio).max() == pytest.approx(0.25, abs=0.02)
    spec = np.abs(np.fft.rfft(clip.audio))
    assert abs(np.argmax(spec) * 16000 / clip.audio.size - 440) < 3
    sf.write(tmp_path / "o.ogg", stereo[:, 0], 44100)
    assert read_audio(tmp_path / "o.ogg").rate == 44100


def test_bad_audio_files_get_clear_errors(tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(AudioFileError, match="not an audio file") as info:
        read_audio(tmp_path / "notes.wav")
    # Our words, never the library's (soundfile, "Error opening", "Format not recognised").
    assert "soundfile" not in str(info.value) and "Error opening" not in str(info.value)
    (tmp_path / "zero.wav").write_bytes(b"")             # a 0-byte file is called empty
    with pytest.raises(AudioFileError, match="zero.wav: the file is empty"):
        read_audio(tmp_path / "zero.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioFileError, match="no audio"):
        read_audio(tmp_path / "empty.wav")
    # A real two-hour file (at a low rate, so it stays small): refused from its header.
    long = tmp_path / "two-hours.wav"
    with sf.SoundFile(long, "w", 1000, 1, "PCM_16") as f:
        block = np.zeros(600_000, np.int16)
        for _ in range(12):
            f.write(block)
    with pytest.raises(AudioFileError, match="120 min is too long"):
        read_audio(long)
    with pytest.raises(AudioFileError, match="no such file"):
        read_audio(tmp_path / "missing.wav")


def test_write_wav_and_fit_length(tmp_path):
    p = write_wav(tmp_path / "x.wav", np.array([0.5, -2.0, 0.1], np.float32), 8000)
    data, sr = sf.read(p)
    assert sr == 8000 and data[1] == -1.0
    with pytest.raises(AudioFileError, match="does not exist"):
        write_wav(tmp_path / "nope" / "x.wav", np.zeros(4), 8000)
    assert fit_length(np.ones(5), 3).size == 3 and fit_length(np.ones(2), 4)[3] == 0


def test_vocoder_training_runs_end_to_end_and_writes_a_card(tmp_path):
    """A few seconds of training of a tiny vocoder on the two test clips: the command's
    whole path (data, losses, evaluation against Griffin-Lim, card) without a shipped model."""
    import json

    from models.audio.vocos import VocosConfig
    from models.train.vocoder import TrainConfig, train

    clips = [read_audio(DATA / f"{n}.flac", 16000).audio for n in ("unseen-us3", "unseen-fr4")]
    manifest = [{"voice": "mb-us3", "db": "us3", "kind": "mbrola", "split": "train",
                 "text": "", "pitch": 50, "speed": 150},
                {"voice": "mb-fr4", "db": "fr4", "kind": "mbrola", "split": "test",
                 "text": "", "pitch": 50, "speed": 150}]
    pcm = np.concatenate(clips)
    np.savez(tmp_path / "speech.npz", pcm=(pcm * 32000).astype(np.int16),
             lengths=np.array([c.size for c in clips]), manifest=np.array(json.dumps(manifest)),
             rate=np.array(16000))
    out = tmp_path / "voc.safetensors"
    card = train(out, TrainConfig(minutes=0.05, batch=2, eval_every=2, test_utterances=1,
                                  adv_weight=0.1),
                 data_path=tmp_path / "speech.npz", log=lambda _: None,
                 net_cfg=VocosConfig(dim=16, hidden=32, layers=1))
    assert "multi-period" in card["training"]["losses"]
    assert card["training"]["command"].endswith("--adv-weight 0.1 --batch 2")
    terms = card["training"]["history"][0]["train_terms"]
    assert {"mrstft", "mel_l1", "disc", "adv", "fm"} <= set(terms)     # what each loss did
    assert "measured_real_voices" not in card                           # no real speakers here
    assert out.is_file()
    assert json.loads(out.with_suffix(".json").read_text())["metrics"] == card["metrics"]
    m = card["metrics"]
    assert card["data"]["test_voices_unseen"] == ["mb-fr4"]
    assert m["griffinlim32_test_mrstft"] > 0 and m["test_mrstft"] > 0 and m["rtf_10s"] > 0
    reg = Registry(tmp_path)
    assert reg.get("voc", "cpu").vocode(np.zeros((80, 10), np.float32)).shape == (2560,)


def test_a_wav_is_written_whole_or_not_at_all_and_failures_are_in_our_words(tmp_path,
                                                                            monkeypatch):
    """A full disk leaves the earlier take and no partial file; a folder without permission
    is named; never soundfile's "System error."."""
    import errno
    from pathlib import Path

    out = tmp_path / "take.wav"
    write_wav(out, np.full(16000, 0.25, np.float32), 16000)
    real = Path.write_bytes

    def full_disk(self, data):
        real(self, data[: len(data) // 3])       # what got there before the disk filled
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(AudioFileError, match="the disk is full") as info:
        write_wav(out, np.zeros(64000, np.float32), 16000)
    assert "System error" not in str(info.value)
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(AudioFileError, match=f"no permission to write in {tmp_path}"):
        write_wav(out, np.zeros(8, np.float32), 16000)
    monkeypatch.undo()
    data, sr = sf.read(out)                        # the earlier take, whole
    assert sr == 16000 and data.size == 16000 and abs(data[0] - 0.25) < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]
