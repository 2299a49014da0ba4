"""Discriminators for adversarial vocoder training, as HiFi-GAN and Vocos use them.

* Multi-period (HiFi-GAN): the waveform folded into (T/p, p) for periods 2, 3, 5, 7, 11,
  each judged by 2-D convolutions along time, so every periodic structure (the pitch's
  harmonics) is judged on its own.
* Multi-resolution (UnivNet, Vocos): log-magnitude spectrograms at three STFT sizes, each
  judged by 2-D convolutions, so over-smoothed spectra are caught at every resolution.

Each returns, per sub-discriminator, its logits and the feature maps of its layers (for the
feature-matching loss). Losses are least-squares GAN (HiFi-GAN's) and the L1 distance of
feature maps of real and generated audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

Outputs = list[tuple[torch.Tensor, list[torch.Tensor]]]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Sizes; the defaults are a quarter of HiFi-GAN's widths (32-1024) so that a training
    step fits a CPU (measured: 8 s for one pass of every sub-discriminator over 16 one-second
    clips at widths 16-256 and 32 on 2 cores)."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    period_channels: tuple[int, ...] = (8, 32, 64, 128)
    resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))
    resolution_channels: int = 16


class PeriodDiscriminator(nn.Module):
    """(B, T) audio -> logits and features of the audio folded by ``period``."""

    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        layers, cin = [], 1
        for c in channels:
            layers.append(weight_norm(nn.Conv2d(cin, c, (5, 1), (3, 1), padding=(2, 0))))
            cin = c
        layers.append(weight_norm(nn.Conv2d(cin, cin, (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(cin, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), mode="reflect")
        h = x.view(b, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        h = self.post(h)
        feats.append(h)
        return h.flatten(1), feats


class ResolutionDiscriminator(nn.Module):
    """(B, T) audio -> logits and features of its log-magnitude STFT at one resolution."""

    def __init__(self, n_fft: int, hop: int, channels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(1, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
        ])
        self.post = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        h = torch.log(spec.abs().clamp_min(1e-5))[:, None].transpose(2, 3)   # (B, 1, T, F)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        h = self.post(h)
        feats.append(h)
        return h.flatten(1), feats


class Discriminators(nn.Module):
    """Every multi-period and multi-resolution sub-discriminator over one batch."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DiscriminatorConfig()
        self.subs = nn.ModuleList(
            [PeriodDiscriminator(p, cfg.period_channels) for p in cfg.periods]
            + [ResolutionDiscriminator(n, h, cfg.resolution_channels)
               for n, h in cfg.resolutions])

    def forward(self, x: torch.Tensor) -> Outputs:
        return [d(x) for d in self.subs]


def discriminator_loss(real: Outputs, fake: Outputs) -> torch.Tensor:
    """Least squares: real logits toward 1, generated toward 0 (mean over sub-discriminators)."""
    terms = [((1 - r) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake)]
    return torch.stack(terms).mean()


def generator_loss(fake: Outputs) -> torch.Tensor:
    """Least squares: generated logits toward 1."""
    return torch.stack([((1 - f) ** 2).mean() for f, _ in fake]).mean()


def feature_loss(real: Outputs, fake: Outputs) -> torch.Tensor:
    """Mean L1 distance of every layer's feature maps, real (detached) vs generated."""
    terms = [F.l1_loss(g, r.detach())
             for (_, rf), (_, ff) in zip(real, fake) for r, g in zip(rf, ff)]
    return torch.stack(terms).mean()
