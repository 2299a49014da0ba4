"""The recording-keeping pitch shifter: its peaks moved by the ratio, frame by frame, the
length exact, formants held where asked."""

import numpy as np
import pytest

from models.audio.pitch_shift import frame_count, frame_ratios, shift_pitch, spectral_envelope

RATE = 16000


def voice(f0, seconds=1.0, formant=1000.0, bandwidth=150.0):
    """A harmonic tone at ``f0`` (Hz: one number or one per sample) whose harmonics follow a
    single resonance at ``formant``."""
    n = int(seconds * RATE)
    f0 = np.broadcast_to(np.asarray(f0, np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    y = np.zeros(n)
    for h in range(1, 40):
        f = h * f0
        amp = 1.0 / (1.0 + ((f - formant) / bandwidth) ** 2)
        y += np.where(f < RATE / 2 - 200, amp, 0.0) * np.sin(h * phase)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def pitch_of(y):
    """f0 (Hz) by autocorrelation over the middle of ``y``, with parabolic refinement."""
    seg = y[len(y) // 4: 3 * len(y) // 4].astype(np.float64)
    ac = np.correlate(seg, seg, "full")[seg.size - 1:]
    lo, hi = RATE // 500, RATE // 60
    k = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    return RATE / (k + 0.5 * (a - c) / (a - 2 * b + c))


def envelope_peak(y):
    """Frequency (Hz) of the largest value of the mean spectral envelope."""
    frames = np.lib.stride_tricks.sliding_window_view(y, 1024)[::256] * np.hanning(1024)
    env = np.mean([spectral_envelope(np.abs(np.fft.rfft(f))) for f in frames], axis=0)
    return np.argmax(env) * RATE / 1024


def test_the_pitch_moves_by_the_ratio_and_the_length_is_kept():
    x = voice(150.0)
    r = 2 ** (3 / 12)
    y = shift_pitch(x, r)
    assert y.shape == x.shape and y.dtype == np.float32
    assert pitch_of(y) == pytest.approx(150.0 * r, rel=0.01)
    assert pitch_of(shift_pitch(x, 2 ** (-5 / 12))) == pytest.approx(150 * 2 ** (-5 / 12),
                                                                     rel=0.01)
    # The level stays about where it was.
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=0.3)


def test_a_ratio_of_one_gives_the_recording_back():
    x = voice(180.0, 0.5) + np.random.default_rng(0).normal(0, 0.01, 8000).astype(np.float32)
    assert np.array_equal(shift_pitch(x, 1.0), x)
    same = shift_pitch(x, np.ones(frame_count(x.size)))
    assert np.max(np.abs(same - x)) < 1e-5


def test_the_ratio_can_change_from_frame_to_frame():
    x = voice(140.0, 2.0)
    t = np.arange(frame_count(x.size)) * 256
    ratios = np.where(t < x.size / 2, 1.0, 1.5)
    y = shift_pitch(x, ratios, keep_formants=False)
    half = x.size // 2
    assert pitch_of(y[:half - 2048]) == pytest.approx(140.0, rel=0.01)
    assert pitch_of(y[half + 2048:]) == pytest.approx(210.0, rel=0.01)


def test_formants_stay_where_they_were_only_when_asked():
    x = voice(120.0, formant=1000.0)
    r = 2 ** (4 / 12)
    assert envelope_peak(x) == pytest.approx(1000, abs=80)
    assert envelope_peak(shift_pitch(x, r, keep_formants=True)) == pytest.approx(1000, abs=80)
    assert envelope_peak(shift_pitch(x, r, keep_formants=False)) == pytest.approx(1000 * r,
                                                                                 abs=100)


def test_bad_ratios_and_shapes_are_errors():
    x = voice(150.0, 0.25)
    with pytest.raises(ValueError, match="frame ratios"):
        shift_pitch(x, np.ones(3))
    with pytest.raises(ValueError, match="positive"):
        shift_pitch(x, np.zeros(frame_count(x.size)))
    with pytest.raises(ValueError, match="mono"):
        shift_pitch(np.stack([x, x]), 1.2)
    assert shift_pitch(np.zeros(0, np.float32), 1.2).size == 0


def test_frame_ratios_follow_two_pitch_curves():
    f0 = np.array([0, 100, 100, 0, 0, 100, 100, 0], np.float32)
    to = np.array([0, 200, 200, 0, 0, 100, 100, 0], np.float32)
    n = 8 * 256
    r = frame_ratios(f0, to, n, mel_hop=256)
    assert r.size == frame_count(n)
    assert r[0] == pytest.approx(2.0) and r[-1] == pytest.approx(1.0)     # held at the ends
    assert np.all(np.diff(r) <= 1e-9)               # carried across the unvoiced gap
    assert np.all(frame_ratios(np.zeros(8), to, n, 256) == 1.0)
