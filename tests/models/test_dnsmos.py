import numpy as np
import pytest
import soundfile as sf

from models.eval.dnsmos import audio_files, dnsmos, read_mono_16k


def test_dnsmos_scores_speechlike_audio_on_its_scales(tmp_path):
    sr = 22050
    t = np.arange(3 * sr) / sr
    # A buzzy 'voice' with syllable-rate amplitude changes, in stereo at 22.05 kHz.
    voice = np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    sf.write(tmp_path / "v.wav", np.stack([voice, voice], 1).astype(np.float32) * 0.2, sr)
    assert read_mono_16k(tmp_path / "v.wav").shape == (3 * 16000,)
    (row,) = dnsmos(audio_files(tmp_path))
    for k in ("sig", "bak", "ovrl", "p808"):
        assert 1.0 <= row[k] <= 5.0


def test_dnsmos_input_errors(tmp_path):
    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(ValueError, match="not a readable audio file"):
        read_mono_16k(tmp_path / "x.wav")
    sf.write(tmp_path / "short.wav", np.zeros(800, np.float32), 16000)
    with pytest.raises(ValueError, match="shorter than 0.5 s"):
        dnsmos([tmp_path / "short.wav"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no"):
        audio_files(empty)
    with pytest.raises(FileNotFoundError):
        audio_files(tmp_path / "missing")


def test_a_file_over_twenty_minutes_is_refused_from_its_header(tmp_path):
    import time

    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, subtype="PCM_U8") as f:
        block = np.zeros(8000 * 60, np.float32)
        for _ in range(21):
            f.write(block)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="21 min is too long"):
        dnsmos([path])
    assert time.perf_counter() - t0 < 5      # refused before decoding an hour of audio
