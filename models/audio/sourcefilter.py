"""A source-filter vocoder: speech from a log-mel as harmonics of a pitch plus noise, both
shaped by the mel's own envelope.

The pitch (and what is voiced) is read from the mel by a speech attribute model
(models/audio/ancogen.py: its analysis, trained by ``latent-studio train attributes``). The
mel bands, divided by their filters' areas, give a magnitude per band at its centre frequency,
interpolated (in log) to every STFT bin: the envelope. Voiced frames sound a sum of harmonics
of the pitch, each with the envelope's magnitude at its frequency; the harmonics fade into
noise above ``voiced_max_hz`` (down to ``harmonic_floor`` of the energy at the Nyquist
frequency). Unvoiced frames, and the rest of the voiced ones, are noise with the envelope's
magnitude (random phase, overlap-added). The phase of every harmonic runs continuously, so
there is none of the phasiness of a phase estimated from magnitudes (Griffin-Lim). Last, the
result is filtered ``passes`` times toward the asked mel (a gain per band and frame, clipped
to +-26 dB), which fixes the level of every band.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from models.audio.features import apply_mel_gain, check_mel, interp_matrix, log_mel, mel_basis
from models.checkpoints import Checkpoint
from models.protocol import BackendInfo, Capability, JobContext, MelSettings

PITCH_MODEL = "attributes-speech"
VOICED_MAX_HZ = 4000.0
HARMONIC_FLOOR = 0.15
PASSES = 2
MAX_CORRECTION = 3.0            # nepers (26 dB) per pass


class SourceFilterBackend:
    """Capability.VOCODE from a pitch model (an attribute model's analysis) and DSP."""

    info: BackendInfo
    takes_pitch = True          # vocode(mel, f0_hz=...) sounds the pitch it is given

    def __init__(self, pitch_model: Any, voiced_max_hz: float = VOICED_MAX_HZ,
                 harmonic_floor: float = HARMONIC_FLOOR, passes: int = PASSES) -> None:
        self.pitch_model = pitch_model
        self.mel: MelSettings = pitch_model.mel_settings
        self.voiced_max_hz = float(voiced_max_hz)
        self.harmonic_floor = float(harmonic_floor)
        self.passes = int(passes)

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.mel).numpy()

    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None, seed: int = 0,
               f0_hz: np.ndarray | None = None) -> np.ndarray:
        """Audio ``(T * hop,)`` for a ln-mel ``(n_mels, T)``; ``f0_hz`` (per frame, 0
        unvoiced) instead of the pitch model's reading where given."""
        ctx = ctx or JobContext()
        s = self.mel
        mel = np.asarray(check_mel(mel, s), np.float64)
        ctx.report(0.0)
        if f0_hz is None:
            f0_hz = self.pitch_model.analyse_mel(mel.astype(np.float32))["f0_hz"]
        f0 = np.asarray(f0_hz, np.float64)
        if f0.shape != (mel.shape[1],):
            raise ValueError(f"the pitch needs {mel.shape[1]} values, one per frame")
        ctx.check()
        log_env = _band_to_bins(s) @ (mel - np.log(_band_areas(s))[:, None])
        ctx.report(0.3)
        y = self._harmonics(log_env, f0) + self._noise(log_env, f0 > 0, seed)
        for i in range(self.passes):
            ctx.report(0.4 + 0.6 * i / max(self.passes, 1))
            y = _toward(y, mel, s)
        ctx.report(1.0)
        return y.astype(np.float32)

    def _voiced_share(self, freq: np.ndarray) -> np.ndarray:
        """Share of the energy that is harmonic in a voiced frame, by frequency."""
        nyq = self.mel.sample_rate / 2
        top = self.voiced_max_hz
        share = 1 - (freq - top) / max(nyq - top, 1.0) * (1 - self.harmonic_floor)
        return np.clip(share, self.harmonic_floor, 1.0)

    def _harmonics(self, log_env: np.ndarray, f0: np.ndarray) -> np.ndarray:
        s = self.mel
        t_count = f0.size
        n = t_count * s.hop
        voiced = f0 > 0
        if not voiced.any():
            return np.zeros(n)
        bin_hz = s.sample_rate / s.n_fft
        nyq = s.sample_rate / 2
        centres = (np.arange(t_count) + 0.5) * s.hop
        # The pitch carried through unvoiced frames so the phase runs on; silenced there.
        f0_all = np.interp(centres, centres[voiced], f0[voiced])
        i0, i1, w = _frame_interp(n, t_count, s.hop)
        f0_s = f0_all[i0] * (1 - w) + f0_all[i1] * w
        gate = voiced[i0] * (1 - w) + voiced[i1] * w
        phase = np.mod(2 * np.pi * np.cumsum(f0_s) / s.sample_rate, 2 * np.pi)
        # Amplitudes per harmonic and frame: the envelope at k * f0 (linear between bins). A
        # sinusoid of amplitude A peaks at A * sum(window) / 2 in a Hann-windowed STFT.
        top = int(nyq / max(f0_all.min(), 1.0))
        ks = np.arange(1, top + 1)
        fk = ks[:, None] * f0_all[None]
        pos = np.clip(fk / bin_hz, 0, log_env.shape[0] - 1.001)
        j = pos.astype(int)
        frac = pos - j
        cols = np.arange(t_count)[None]
        le = log_env[j, cols] * (1 - frac) + log_env[j + 1, cols] * frac
        to_amp = 2.0 / (np.hanning(s.win + 1)[:-1].sum())
        amp = np.exp(le) * to_amp * np.sqrt(self._voiced_share(fk)) * (fk < nyq - 100.0)
        # Sum over the harmonics that sound anywhere, sample by sample (torch, float32; the
        # amplitudes linear between frame centres).
        sounding = np.flatnonzero(amp.any(axis=1))
        if sounding.size == 0:
            return np.zeros(n)
        top = int(sounding[-1]) + 1
        amp_t = torch.from_numpy(amp[:top].astype(np.float32))
        ph = torch.from_numpy(phase.astype(np.float32))
        y = torch.zeros(n)
        for first in range(0, top, 16):
            block = amp_t[first:first + 16]
            k = torch.arange(first + 1, first + 1 + block.shape[0], dtype=torch.float32)
            a = torch.nn.functional.interpolate(block[None], size=n, mode="linear")[0]
            y += (a * torch.sin(k[:, None] * ph[None])).sum(dim=0)
        return y.numpy().astype(np.float64) * gate

    def _noise(self, log_env: np.ndarray, voiced: np.ndarray, seed: int) -> np.ndarray:
        s = self.mel
        freq = np.arange(log_env.shape[0]) * s.sample_rate / s.n_fft
        share = np.where(voiced[None, :], np.sqrt(1 - self._voiced_share(freq))[:, None], 1.0)
        mag = np.exp(log_env) * share
        rng = np.random.default_rng(seed)
        spec = mag * np.exp(1j * rng.uniform(-np.pi, np.pi, mag.shape))
        n = voiced.size * s.hop
        # istft centres frame t on t * hop; the mel's frame t is centred on (t + 0.5) * hop.
        y = torch.istft(torch.from_numpy(spec.astype(np.complex64)), s.n_fft, s.hop, s.win,
                        torch.hann_window(s.win), center=True, length=n + s.hop // 2)
        return y.numpy()[s.hop // 2:].astype(np.float64)


def _frame_interp(n: int, t_count: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every sample: the mel frames around it and the weight of the second (frame t is
    centred on sample (t + 0.5) * hop; held at the ends)."""
    pos = np.clip(np.arange(n) / hop - 0.5, 0, t_count - 1)
    i0 = np.minimum(pos.astype(int), max(t_count - 2, 0))
    i1 = np.minimum(i0 + 1, t_count - 1)
    return i0, i1, pos - i0


@functools.lru_cache(maxsize=4)
def _band_areas(s: MelSettings) -> np.ndarray:
    return mel_basis(s).numpy().astype(np.float64).sum(axis=1)


@functools.lru_cache(maxsize=4)
def _band_to_bins(s: MelSettings) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels): linear interpolation from the bands' centre frequencies
    (their filters' centroids) to the STFT bins' frequencies."""
    fb = mel_basis(s).numpy().astype(np.float64)
    freq = np.arange(fb.shape[1]) * s.sample_rate / s.n_fft
    return interp_matrix(freq, (fb * freq).sum(axis=1) / fb.sum(axis=1))


def _toward(y: np.ndarray, mel: np.ndarray, s: MelSettings) -> np.ndarray:
    gain = mel - log_mel(y.astype(np.float32), s).numpy()[:, :mel.shape[1]]
    gain = np.clip(gain, -MAX_CORRECTION, MAX_CORRECTION).astype(np.float32)
    return apply_mel_gain(y.astype(np.float32), gain, s).astype(np.float64)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    return {"capabilities": Capability.VOCODE, "mel": MelSettings(),
            "description": card.get("description", "source-filter vocoder: harmonics of the "
                                    "pitch an attribute model reads, plus noise, shaped by "
                                    "the mel")}


def load(ckpt: Checkpoint | None, device: str) -> SourceFilterBackend:
    from models.audio import ancogen
    from models.checkpoints import load_checkpoint
    from models.registry import WEIGHTS_DIR

    config = (ckpt.card.get("config", {}) if ckpt is not None else {})
    name = str(config.get("pitch_model", PITCH_MODEL))
    pitch = ancogen.load(load_checkpoint(WEIGHTS_DIR / f"{name}.safetensors"), device)
    return SourceFilterBackend(pitch, float(config.get("voiced_max_hz", VOICED_MAX_HZ)),
                               float(config.get("harmonic_floor", HARMONIC_FLOOR)),
                               int(config.get("passes", PASSES)))
