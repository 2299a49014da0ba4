"""Spectral analysis shared by every vocoder, the editor and the metrics.

All functions take float32 torch tensors or numpy arrays of shape ``(L,)`` or ``(B, L)`` and
follow :class:`models.protocol.MelSettings` (HiFi-GAN's mel convention).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torchaudio
from torch.nn import functional as F

from models.protocol import MelSettings

LOG_FLOOR = 1e-5


@functools.lru_cache(maxsize=16)
def mel_basis(s: MelSettings) -> torch.Tensor:
    """Slaney mel filters ``(n_mels, n_fft // 2 + 1)``."""
    fb = torchaudio.functional.melscale_fbanks(
        s.n_fft // 2 + 1, s.fmin, s.fmax, s.n_mels, s.sample_rate, norm="slaney",
        mel_scale="slaney")
    return fb.T.contiguous()


@functools.lru_cache(maxsize=16)
def _window(win: int) -> torch.Tensor:
    return torch.hann_window(win)


def _as_tensor(audio) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(np.asarray(audio, np.float32) if not torch.is_tensor(audio) else audio)
    single = t.dim() == 1
    return (t[None] if single else t), single


def magnitude(audio, s: MelSettings) -> torch.Tensor:
    """Magnitude STFT ``(B, n_fft // 2 + 1, L // hop)`` (reflect pad, frames not centred)."""
    x, _ = _as_tensor(audio)
    pad = (s.n_fft - s.hop) // 2
    if x.shape[-1] <= pad:
        x = F.pad(x, (0, pad + 1 - x.shape[-1]))
    x = F.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(x, s.n_fft, s.hop, s.win, _window(s.win).to(x.device), center=False,
                      return_complex=True)
    return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)


def log_mel(audio, s: MelSettings) -> torch.Tensor:
    """ln mel spectrogram ``(B, n_mels, T)`` (or ``(n_mels, T)`` for one clip)."""
    if s.convention != "hifigan":
        raise ValueError(f"a '{s.convention}' mel is analysed by its own vocoder, not here")
    x, single = _as_tensor(audio)
    mag = magnitude(x, s)
    mel = torch.log(torch.clamp(mel_basis(s).to(mag.device) @ mag, min=LOG_FLOOR))
    return mel[0] if single else mel


def mel_to_db(mel: np.ndarray) -> np.ndarray:
    """ln-magnitude mel to decibels (20 log10)."""
    return (20.0 / np.log(10.0)) * np.asarray(mel, np.float32)


def linear_db(audio, s: MelSettings) -> np.ndarray:
    """Linear-frequency magnitude in dB ``(n_fft // 2 + 1, T)`` for the editor's linear view."""
    mag = magnitude(audio, s)[0]
    return (20.0 * torch.log10(torch.clamp(mag, min=LOG_FLOOR))).numpy()


# --- distances reported in model cards and benches -------------------------------------------

MRSTFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))


def _stft_mag(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    spec = torch.stft(x, n_fft, hop, win, _window(win).to(x.device), return_complex=True)
    return torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=1e-7))


def mrstft_terms(y_hat: torch.Tensor, y: torch.Tensor,
                 resolutions=MRSTFT_RESOLUTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral convergence and log-magnitude L1, each averaged over the resolutions."""
    sc = lm = 0.0
    for n_fft, hop, win in resolutions:
        a, b = _stft_mag(y_hat, n_fft, hop, win), _stft_mag(y, n_fft, hop, win)
        sc = sc + torch.linalg.norm(b - a) / torch.clamp(torch.linalg.norm(b), min=1e-7)
        lm = lm + F.l1_loss(torch.log(a), torch.log(b))
    n = len(resolutions)
    return sc / n, lm / n


def mrstft_distance(y_hat, y) -> float:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1; lower is better).

    The two signals are cut to the shorter length.
    """
    a, _ = _as_tensor(y_hat)
    b, _ = _as_tensor(y)
    n = min(a.shape[-1], b.shape[-1])
    with torch.no_grad():
        sc, lm = mrstft_terms(a[..., :n], b[..., :n])
    return float(sc + lm)


def mel_distance(y_hat, y, s: MelSettings) -> float:
    """Mean absolute difference of the ln mel spectrograms (HiFi-GAN's "mel error")."""
    a, _ = _as_tensor(y_hat)
    b, _ = _as_tensor(y)
    n = min(a.shape[-1], b.shape[-1])
    with torch.no_grad():
        return float(F.l1_loss(log_mel(a[..., :n], s), log_mel(b[..., :n], s)))


def overlap_add(frames: torch.Tensor, s_hop: int, win: torch.Tensor, pad: int) -> torch.Tensor:
    """Windowed overlap-add of ``(B, n_fft, T)`` frames, normalised by the window envelope.

    Output is ``T * hop`` samples with ``pad`` trimmed on both sides ("same" padding), so
    frame ``t`` is centred at ``t * hop + hop / 2`` exactly as :func:`magnitude` analyses.
    """
    b, n_fft, t = frames.shape
    length = (t - 1) * s_hop + n_fft
    y = F.fold(frames * win[None, :, None], (1, length), (1, n_fft), stride=(1, s_hop))[:, 0, 0]
    env = F.fold((win ** 2)[None, :, None].expand(1, n_fft, t), (1, length), (1, n_fft),
                 stride=(1, s_hop))[0, 0, 0]
    y = y[:, pad:length - pad]
    env = env[pad:length - pad]
    return y / torch.clamp(env, min=1e-8)


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-9) / min_log_hz)
                    / logstep, hz / f_sp)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


def mel_frequencies(s: MelSettings) -> np.ndarray:
    """Centre frequency in Hz of each mel band (Slaney scale; HTK's for a Vocos mel)."""
    if s.convention == "vocos":
        lo, hi = (2595.0 * np.log10(1.0 + np.array(f, np.float64) / 700.0)
                  for f in (s.fmin, s.fmax))
        return 700.0 * (10.0 ** (np.linspace(lo, hi, s.n_mels + 2)[1:-1] / 2595.0) - 1.0)
    lo, hi = _hz_to_mel_slaney(np.array(s.fmin)), _hz_to_mel_slaney(np.array(s.fmax))
    return _mel_to_hz_slaney(np.linspace(lo, hi, s.n_mels + 2)[1:-1])


def interp_matrix(at: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(len(at), len(points)): values at ``points`` to values at ``at`` by linear
    interpolation (held at the ends), as np.interp does."""
    return np.stack([np.interp(at, points, e) for e in np.eye(len(points))], axis=1)


@functools.lru_cache(maxsize=16)
def _bands_to_bins(s: MelSettings) -> np.ndarray:
    return interp_matrix(np.arange(s.n_fft // 2 + 1) * s.sample_rate / s.n_fft,
                         mel_frequencies(s))


class MelGainFilter:
    """Filters one clip by gains per mel band and frame (ln amplitude), spread over the STFT
    bins by the bands' centre frequencies and over time by the frames' centres; the clip's
    own phase is kept. The STFT is taken once, so many gains can be tried on one clip."""

    def __init__(self, audio: np.ndarray, s: MelSettings) -> None:
        self.s = s
        self.x = torch.as_tensor(np.asarray(audio, np.float32))
        self.window = torch.hann_window(s.win)
        self.spec = torch.stft(self.x, s.n_fft, s.hop, s.win, self.window, center=True,
                               return_complex=True)

    def __call__(self, gain: np.ndarray) -> np.ndarray:
        s = self.s
        g = _bands_to_bins(s) @ np.asarray(gain, np.float64)
        # Mel frame k is centred on sample (k + 0.5) * hop, STFT frame j on j * hop.
        t_count = g.shape[1]
        pos = np.clip(np.arange(self.spec.shape[1]) - 0.5, 0, t_count - 1)
        i0 = pos.astype(int)
        i1 = np.minimum(i0 + 1, t_count - 1)
        w = pos - i0
        g = g[:, i0] * (1 - w) + g[:, i1] * w
        out = torch.istft(self.spec * torch.from_numpy(np.exp(g).astype(np.float32)), s.n_fft,
                          s.hop, s.win, self.window, center=True, length=self.x.numel())
        return out.numpy().astype(np.float32)


def apply_mel_gain(audio: np.ndarray, gain: np.ndarray, s: MelSettings) -> np.ndarray:
    """``audio`` filtered once by ``gain`` (see :class:`MelGainFilter`)."""
    return MelGainFilter(audio, s)(gain)


def check_mel(mel, s: MelSettings) -> np.ndarray:
    """``mel`` as C-contiguous float32 ``(n_mels, T)``, or a ValueError saying what is wrong."""
    m = np.ascontiguousarray(mel, np.float32)
    if m.ndim != 2 or m.shape[0] != s.n_mels or m.shape[1] < 1:
        raise ValueError(f"expected a mel of shape ({s.n_mels}, T) for this vocoder, "
                         f"got {tuple(m.shape)}")
    if not np.all(np.isfinite(m)):
        raise ValueError("the mel holds NaN or infinite values")
    return m
