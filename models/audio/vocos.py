"""The project's neural vocoder: a Vocos-style ConvNeXt over mel frames with an iSTFT head.

The network predicts, for every mel frame, the log-magnitude and the phase of an STFT frame;
a windowed overlap-add turns them into audio. It runs at the frame rate (62.5 frames/s at
16 kHz), which is what makes it fast on a CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.audio.features import _window, check_mel, log_mel, mel_basis, overlap_add
from models.checkpoints import Checkpoint, config_from_card, load_state
from models.protocol import BackendInfo, Capability, JobContext, MelSettings


@dataclass
class VocosConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    win: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    dim: int = 256
    hidden: int = 768
    layers: int = 8
    kernel: int = 7
    # Predict the log magnitude as a correction to the least-squares inverse of the mel, so
    # the network starts from the spectral envelope and spends its capacity on fine structure
    # and phase.
    mel_skip: bool = True

    @property
    def mel(self) -> MelSettings:
        return MelSettings(self.sample_rate, self.n_fft, self.hop, self.win, self.n_mels,
                           self.fmin, self.fmax)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel: int, scale: float) -> None:
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dw(x).transpose(1, 2)
        h = self.pw2(self.act(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class Vocos(nn.Module):
    """``(B, n_mels, T)`` ln-mel -> ``(B, T * hop)`` audio."""

    def __init__(self, cfg: VocosConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Conv1d(cfg.n_mels, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.hidden, cfg.kernel, 1.0 / cfg.layers)
            for _ in range(cfg.layers))
        self.final = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.register_buffer("window", _window(cfg.win).clone(), persistent=False)
        if cfg.mel_skip:
            nn.init.zeros_(self.head.weight[: cfg.n_fft // 2 + 1])
            nn.init.zeros_(self.head.bias[: cfg.n_fft // 2 + 1])
        self.register_buffer("inv_mel", torch.linalg.pinv(mel_basis(cfg.mel)), persistent=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.embed(mel)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        h = self.head(self.final(x.transpose(1, 2))).transpose(1, 2)
        logmag, phase = h.chunk(2, dim=1)
        if self.cfg.mel_skip:
            base = torch.clamp(self.inv_mel @ torch.exp(mel), min=1e-5)
            logmag = logmag + torch.log(base)
        mag = torch.exp(torch.clamp(logmag, max=7.0))
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
        frames = torch.fft.irfft(spec, n=self.cfg.n_fft, dim=1)
        return overlap_add(frames, self.cfg.hop, self.window, (self.cfg.n_fft - self.cfg.hop) // 2)


class VocosBackend:
    """A trained :class:`Vocos` behind the :class:`~models.protocol.VocoderBackend` protocol."""

    info: BackendInfo

    def __init__(self, net: Vocos, device: str = "cpu", chunk_frames: int = 2048) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.chunk = chunk_frames

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.net.cfg.mel).numpy()

    @torch.inference_mode()
    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Audio ``(T * hop,)``; long inputs go in overlapping chunks with progress."""
        ctx = ctx or JobContext()
        ctx.check()
        m = torch.as_tensor(check_mel(mel, self.net.cfg.mel), device=self.device)
        t = m.shape[-1]
        hop, ctxf = self.net.cfg.hop, 16
        if t <= self.chunk:
            return self.net(m[None])[0].float().cpu().numpy()
        out = []
        for start in range(0, t, self.chunk):
            ctx.report(start / t)
            a, b = max(0, start - ctxf), min(t, start + self.chunk + ctxf)
            y = self.net(m[None, :, a:b])[0]
            out.append(y[(start - a) * hop:(start - a + min(self.chunk, t - start)) * hop])
        ctx.report(1.0)
        return torch.cat(out).float().cpu().numpy()


def config_to_card(cfg: VocosConfig) -> dict[str, Any]:
    return asdict(cfg)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(VocosConfig, card)
    return {"capabilities": Capability.VOCODE, "mel": cfg.mel,
            "description": card.get("description", f"neural vocoder, {cfg.sample_rate} Hz")}


def load(ckpt: Checkpoint, device: str) -> VocosBackend:
    net = Vocos(config_from_card(VocosConfig, ckpt.card))
    load_state(net, ckpt.state)
    return VocosBackend(net, device)
