"""Pitch shifting that keeps the recording: each spectral peak of the clip's STFT, with the
bins around it, is moved to its frequency times the frame's ratio, and its phase advanced at
the moved frequency; every bin of a peak's region turns by the same angle as the peak (phase
locking, after Laroche & Dolson, "New phase-vocoder techniques for pitch-shifting,
harmonizing and other exotic effects", WASPAA 1999). No time stretch and no resampling: the
ratio can change from frame to frame (a drawn pitch curve), the length is exact, and what is
not moved (noise, breath, the room) keeps its own texture. With ``keep_formants`` each moved
region is also rescaled by the frame's spectral envelope (cepstral smoothing) at its new
frequency over the old one, so the vowels stay where they were and only the pitch moves.
"""

from __future__ import annotations

import numpy as np

from models.protocol import JobContext


def shift_pitch(audio: np.ndarray, ratio: float | np.ndarray, *, n_fft: int = 1024,
                hop: int = 256, keep_formants: bool = True, lifter: int = 30,
                ctx: JobContext | None = None) -> np.ndarray:
    """``audio`` with its pitch times ``ratio``: one number, or one per STFT frame (frame t
    centred on sample t * hop; see :func:`frame_count`). Same length as ``audio``."""
    x = np.asarray(audio, np.float64)
    if x.ndim != 1:
        raise ValueError("pitch shifting takes mono audio")
    n = x.size
    if n == 0:
        return np.zeros(0, np.float32)
    pad = np.pad(x, (n_fft // 2, n_fft // 2 + hop))
    win = np.hanning(n_fft + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop] * win
    t_count = frames.shape[0]
    ratios = np.asarray(ratio, np.float64)
    if ratios.ndim == 0 and ratios == 1.0:
        return x.astype(np.float32)
    if ratios.ndim == 0:
        ratios = np.full(t_count, float(ratios))
    if ratios.shape != (t_count,):
        raise ValueError(f"{t_count} frame ratios are needed, not {ratios.size}")
    if not np.all(np.isfinite(ratios)) or np.any(ratios <= 0):
        raise ValueError("pitch ratios must be positive numbers")
    spec = np.fft.rfft(frames, axis=1)
    mag, phase = np.abs(spec), np.angle(spec)
    k_count = mag.shape[1]
    bins = np.arange(k_count)
    omega = 2 * np.pi * bins / n_fft
    out = np.zeros_like(spec)
    prev_phase = phase[0]
    prev_out = np.zeros(k_count, complex)
    for t in range(t_count):
        if ctx is not None and t % 64 == 0:
            ctx.check()
        m, ph, r = mag[t], phase[t], ratios[t]
        # Instantaneous frequency of every bin, from the phase advance over one hop.
        dev = ph - prev_phase - hop * omega
        inst = omega + ((dev + np.pi) % (2 * np.pi) - np.pi) / hop
        prev_phase = ph
        peaks = _peaks(m)
        if peaks.size == 0:
            prev_out = out[t]
            continue
        # Each bin belongs to the peak whose region holds it (regions meet at the lowest bin
        # between two peaks).
        cuts = np.array([a + int(np.argmin(m[a:b + 1])) for a, b in zip(peaks[:-1], peaks[1:])],
                        int)
        owner = np.searchsorted(cuts, bins, side="right")
        dst_peak = np.clip(np.rint(peaks * r).astype(int), 0, k_count - 1)
        move = (dst_peak - peaks)[owner]
        dst = bins + move
        keep = (dst >= 0) & (dst < k_count)
        # The peak's phase at its new place: where the last output frame had it, advanced by
        # one hop at the moved frequency; its whole region turns with it.
        # A peak with nothing under it in the last output frame (an onset) starts from its
        # own phase.
        theta = np.angle(prev_out[dst_peak]) + hop * r * inst[peaks]
        onset = np.abs(prev_out[dst_peak]) < 0.1 * m[peaks]
        turn = np.where(onset, 0.0, theta - ph[peaks])[owner]
        amp = m
        if keep_formants and r != 1.0:
            env = spectral_envelope(m, lifter)
            amp = m * env[np.clip(dst, 0, k_count - 1)] / env
        row = np.zeros(k_count, complex)
        np.add.at(row, dst[keep], (amp * np.exp(1j * (ph + turn)))[keep])
        out[t] = row
        prev_out = row
    y_frames = np.fft.irfft(out, n_fft, axis=1) * win
    y = np.zeros(pad.size)
    norm = np.zeros(pad.size)
    for t in range(t_count):
        y[t * hop:t * hop + n_fft] += y_frames[t]
        norm[t * hop:t * hop + n_fft] += win ** 2
    y /= np.maximum(norm, 1e-8)
    return y[n_fft // 2:n_fft // 2 + n].astype(np.float32)


def frame_count(n_samples: int, n_fft: int = 1024, hop: int = 256) -> int:
    """How many frame ratios :func:`shift_pitch` takes for ``n_samples`` of audio."""
    return (n_samples + n_fft + hop - n_fft) // hop + 1


def spectral_envelope(mag: np.ndarray, lifter: int = 30) -> np.ndarray:
    """The smooth envelope of one magnitude spectrum (rfft bins): its cepstrum kept below
    ``lifter`` samples of quefrency (well under any voice's pitch period)."""
    n = 2 * (mag.size - 1)
    cep = np.fft.irfft(np.log(mag + 1e-9 * (mag.max() + 1e-30)), n)
    cep[lifter:n - lifter + 1] = 0.0
    return np.exp(np.fft.rfft(cep, n).real)


def _peaks(m: np.ndarray) -> np.ndarray:
    """Local maxima of a magnitude spectrum above -100 dB of its largest bin."""
    if m.size < 3 or m.max() <= 0:
        return np.zeros(0, int)
    inner = (m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:]) & (m[1:-1] > m.max() * 1e-5)
    return np.flatnonzero(inner) + 1


def frame_ratios(f0_from: np.ndarray, f0_to: np.ndarray, n_samples: int, mel_hop: int,
                 n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Per-frame pitch ratios for :func:`shift_pitch` from two pitch curves on the mel frames
    (frame k centred on sample (k + 0.5) * mel_hop; 0 where unvoiced): their ratio where both
    are voiced, carried across the other frames by linear interpolation (held at the ends);
    1 everywhere when no frame is voiced in both."""
    a = np.asarray(f0_from, np.float64)
    b = np.asarray(f0_to, np.float64)
    both = (a > 0) & (b > 0)
    centres = (np.arange(a.size) + 0.5) * mel_hop
    at = np.arange(frame_count(n_samples, n_fft, hop)) * hop
    if not both.any():
        return np.ones(at.size)
    log_r = np.log(b[both] / a[both])
    return np.exp(np.interp(at, centres[both], log_r))
