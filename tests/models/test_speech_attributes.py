"""Signal-measured speech attributes (models/audio/attributes.py): the labels and baselines."""

import numpy as np
import pytest

from models.audio import attributes as at
from models.audio.io import read_audio
from tests.models.test_audio import DATA


def glide(seconds=2.0, f_start=140.0, octaves=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    f = f_start * 2 ** (octaves * t / seconds)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f) / rate) / k for k in range(1, 6))
    return (0.3 * x).astype(np.float32), f


def test_loudness_follows_level_frame_by_frame():
    x = np.concatenate([np.full(8000, 0.1), np.full(8000, 0.01)]).astype(np.float32)
    lev = at.loudness_db(x)
    assert lev.size == at.frames(x.size)
    assert lev[10] == pytest.approx(-20, abs=0.1) and lev[-10] == pytest.approx(-40, abs=0.1)
    assert at.loudness_db(np.zeros(4000, np.float32)).max() == at.FLOOR_DB


def test_mix_at_snr_sets_the_power_ratio_over_active_speech():
    rng = np.random.default_rng(0)
    speech = np.concatenate([rng.normal(0, 0.1, 16000), np.zeros(16000)]).astype(np.float32)
    noise = rng.normal(0, 1, 32000).astype(np.float32)
    y = at.mix_at_snr(speech, noise, 10.0)
    n = y - speech
    assert 10 * np.log10(np.mean(speech[:16000] ** 2) / np.mean(n ** 2)) == pytest.approx(
        10.0, abs=0.3)


def test_c50_of_simple_responses():
    rir = np.zeros(16000)
    rir[100] = 1.0
    rir[100 + 400] = 0.5                   # within 50 ms (800 samples)
    rir[100 + 1600] = 0.5                  # after
    assert at.c50_of_rir(rir) == pytest.approx(10 * np.log10(1.25 / 0.25), abs=1e-6)


def test_simulated_rooms_are_clearer_when_less_reverberant():
    rooms = [at.simulate_room(np.random.default_rng(s)) for s in range(6)]
    dry = min(rooms, key=lambda r: r.rt60_s)
    wet = max(rooms, key=lambda r: r.rt60_s)
    assert dry.c50_db > wet.c50_db
    x = read_audio(DATA / "unseen-us3.flac", 16000).audio[:16000]
    y = at.reverberate(x, wet.rir)
    assert y.size == x.size and np.sqrt(np.mean(y ** 2)) == pytest.approx(
        np.sqrt(np.mean(x ** 2)), rel=1e-3)


def test_pitch_trackers_follow_a_glide_and_fcpe_beats_pyin():
    x, f = glide()
    ref = f[np.minimum(at.frame_centres(x.size).astype(int), f.size - 1)]
    fcpe = at.pitch_error(at.pitch_fcpe(x), ref)
    pyin = at.pitch_error(at.pitch_pyin(x), ref)
    assert fcpe["cents"] < 20 and fcpe["voicing_agreement"] > 0.9
    assert pyin["cents"] < 60
    silence = at.pitch_fcpe(np.zeros(16000, np.float32))
    assert (silence == 0).mean() > 0.9
