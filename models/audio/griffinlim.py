"""Griffin-Lim from a log-mel spectrogram: the baseline every vocoder is measured against.

The mel is turned back into a linear magnitude with torchaudio's inverse mel scale (least
squares, clipped at zero), then fast Griffin-Lim (momentum 0.99) finds a phase. The random
phase start is drawn from a seeded CPU generator, so the same mel always gives the same audio,
on any device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchaudio

from models.audio.features import check_mel, log_mel
from models.checkpoints import Checkpoint
from models.protocol import BackendInfo, Capability, JobContext, MelSettings, ParamSpec

DEFAULT_ITERS = 32
ITERS = ParamSpec("iters", "int", DEFAULT_ITERS, minimum=1, maximum=1000,
                  help="Griffin-Lim iterations: more is slower and a little cleaner")


class GriffinLimBackend:
    """Capability.VOCODE without weights; ``iters`` can be changed per call."""

    info: BackendInfo

    def __init__(self, mel: MelSettings | None = None, iters: int = DEFAULT_ITERS,
                 device: str = "cpu") -> None:
        mel = mel or MelSettings()
        self.mel = mel
        self.iters = iters
        self.device = device
        self._inverse = torchaudio.transforms.InverseMelScale(
            mel.n_fft // 2 + 1, mel.n_mels, mel.sample_rate, mel.fmin, mel.fmax,
            norm="slaney", mel_scale="slaney").to(device)

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.mel).numpy()

    def linear_magnitude(self, mel: np.ndarray) -> torch.Tensor:
        m = torch.exp(torch.as_tensor(np.asarray(mel, np.float32), device=self.device))
        return torch.clamp(self._inverse(m), min=0.0)

    @torch.inference_mode()
    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None,
               iters: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio ``(T * hop,)`` for a ln-mel ``(n_mels, T)``."""
        ctx = ctx or JobContext()
        n_iter = int(iters if iters is not None else self.iters)
        if n_iter < 1:
            raise ValueError(f"Griffin-Lim needs at least 1 iteration (got {n_iter})")
        s = self.mel
        mel = check_mel(mel, s)
        t = mel.shape[1]
        ctx.report(0.0)
        mag = self.linear_magnitude(mel)
        y = fast_griffin_lim(mag, s, n_iter, seed, ctx=ctx)
        ctx.report(1.0)
        # GriffinLim centres frame t at t * hop; our analysis centres it at t * hop + hop / 2.
        # Its output is (T - 1) * hop long; pad the end to T * hop.
        y = torch.cat([torch.zeros(s.hop // 2, device=y.device), y])[: t * s.hop]
        y = torch.nn.functional.pad(y, (0, t * s.hop - y.shape[-1]))
        return y.float().cpu().numpy()


MOMENTUM = 0.99


def fast_griffin_lim(mag: torch.Tensor, s: MelSettings, n_iter: int, seed: int,
                     momentum: float = MOMENTUM, ctx: JobContext | None = None
                     ) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013) of a magnitude ``(n_fft // 2 + 1, T)``.

    The random phase start is drawn from a CPU generator seeded with ``seed`` and then moved
    to the magnitude's device, so a seed gives the same audio on every device.
    """
    ctx = ctx or JobContext()
    window = torch.hann_window(s.win, device=mag.device)
    stft = {"n_fft": s.n_fft, "hop_length": s.hop, "win_length": s.win, "window": window}
    g = torch.Generator().manual_seed(int(seed))
    phase = torch.rand(mag.shape, dtype=torch.complex64, generator=g).to(mag.device)
    previous = torch.zeros((), device=mag.device)
    alpha = momentum / (1 + momentum)
    for i in range(n_iter):
        ctx.report(i / n_iter)
        # Project onto consistent spectrograms, then extrapolate the phase (the "fast" step).
        rebuilt = torch.stft(torch.istft(mag * phase, **stft), center=True, pad_mode="reflect",
                             return_complex=True, **stft)
        phase = rebuilt - alpha * previous
        phase = phase / (phase.abs() + 1e-16)
        previous = rebuilt
    return torch.istft(mag * phase, **stft)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    mel = MelSettings(**card.get("config", {}).get("mel", {}))
    return {"capabilities": Capability.VOCODE, "mel": mel, "params": (ITERS,),
            "description": f"Griffin-Lim from the mel ({DEFAULT_ITERS} iterations by default, "
                           "no weights)"}


def load(ckpt: Checkpoint | None, device: str) -> GriffinLimBackend:
    mel = MelSettings(**(ckpt.card.get("config", {}).get("mel", {}) if ckpt else {}))
    return GriffinLimBackend(mel, device=device)
