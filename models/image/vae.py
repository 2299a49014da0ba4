"""Convolutional VAE: images (N, H, W, C) in [0, 1] <-> latents (N, D).

Encoder: 4x4 stride-2 convolutions down to 4x4, then a linear layer to (mu, log-variance).
Decoder: a linear layer to 4x4, then 4x4 stride-2 transposed convolutions back up. Plain and
narrow on purpose: it trains at about 200 images/s on two CPU cores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoints import Checkpoint, load_state
from models.checkpoints import config_from_card as checkpoint_config
from models.protocol import Capability, JobContext


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a VAE; stored whole in the model card."""

    image_size: int = 64
    channels: int = 1
    latent_dim: int = 32
    width: int = 32
    depth: int = 0          # extra 3x3 convolutions at each level (0: the shipped models')

    @property
    def levels(self) -> int:
        return int(math.log2(self.image_size // 4))


class VAE(nn.Module):
    """The network. Tensors are (B, C, H, W) in [0, 1]."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chans = [cfg.width * 2**i for i in range(cfg.levels)]
        enc: list[nn.Module] = []
        for a, b in zip([cfg.channels] + chans[:-1], chans):
            enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.SiLU()]
            for _ in range(cfg.depth):
                enc += [nn.Conv2d(b, b, 3, padding=1), nn.SiLU()]
        self.encoder = nn.Sequential(*enc)
        flat = chans[-1] * 16
        self.to_stats = nn.Linear(flat, 2 * cfg.latent_dim)
        self.from_latent = nn.Linear(cfg.latent_dim, flat)
        dec: list[nn.Module] = []
        for a, b in zip(chans[::-1], chans[::-1][1:] + [cfg.channels]):
            for _ in range(cfg.depth):
                dec += [nn.SiLU(), nn.Conv2d(a, a, 3, padding=1)]
            dec += [nn.SiLU(), nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self._top = chans[-1]
        self.to(memory_format=torch.channels_last)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> mu, logvar, each (B, D)."""
        h = self.encoder((x * 2 - 1).contiguous(memory_format=torch.channels_last))
        h = h.flatten(1)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> logits (B, C, H, W)."""
        h = self.from_latent(z).view(-1, self._top, 4, 4)
        return self.decoder(h.contiguous(memory_format=torch.channels_last))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruction logits, mu and logvar; z = mu + sigma * eps (reparametrisation)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode_logits(z), mu, logvar


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, (B, D), in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class VAEBackend:
    """Latent backend over a trained VAE; numpy in, numpy out."""

    info: Any = None

    def __init__(self, net: VAE, device: str = "cpu", batch: int = 64) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.batch = batch
        self.cfg = net.cfg

    def _to_tensor(self, images: np.ndarray) -> torch.Tensor:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.cfg.image_size, self.cfg.image_size,
                                          self.cfg.channels):
            want = (self.cfg.image_size, self.cfg.image_size, self.cfg.channels)
            raise ValueError(f"expected images (N, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {tuple(x.shape)}")
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    @torch.inference_mode()
    def encode(self, images: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Posterior means (N, D) float32 of images (N, H, W, C) in [0, 1]."""
        x = self._to_tensor(images)
        out = []
        for i in range(0, len(x), self.batch):
            if ctx is not None:
                ctx.report(i / max(len(x), 1))
            mu, _ = self.net.encode(x[i:i + self.batch].to(self.device))
            out.append(mu.float().cpu())
        return np.ascontiguousarray(torch.cat(out).numpy(), dtype=np.float32)

    @torch.inference_mode()
    def decode(self, latents: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Images (N, H, W, C) float32 in [0, 1] of latents (N, D)."""
        z = torch.as_tensor(np.asarray(latents, dtype=np.float32))
        if z.ndim != 2 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"expected latents (N, {self.cfg.latent_dim}), got {tuple(z.shape)}")
        out = []
        for i in range(0, len(z), self.batch):
            if ctx is not None:
                ctx.report(i / max(len(z), 1))
            out.append(self.net.decode(z[i:i + self.batch].to(self.device)).float().cpu())
        img = torch.cat(out).permute(0, 2, 3, 1)
        return np.ascontiguousarray(img.numpy(), dtype=np.float32)

    def sample_latents(self, n: int, seed: int) -> np.ndarray:
        """``n`` prior draws (n, D) float32; the same seed always gives the same latents."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.cfg.latent_dim, generator=g).numpy().astype(np.float32)


def config_from_card(card: dict[str, Any]) -> VAEConfig:
    return checkpoint_config(VAEConfig, card)


def config_to_card(cfg: VAEConfig) -> dict[str, Any]:
    return asdict(cfg)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(card)
    return {
        "capabilities": Capability.LATENT | Capability.SAMPLE,
        "image_shape": (cfg.image_size, cfg.image_size, cfg.channels),
        "latent_size": cfg.latent_dim,
        "description": card.get("description", f"VAE {cfg.image_size}px, {cfg.latent_dim}-d"),
    }


def load(ckpt: Checkpoint, device: str) -> VAEBackend:
    net = VAE(config_from_card(ckpt.card))
    load_state(net, ckpt.state)
    return VAEBackend(net, device)
