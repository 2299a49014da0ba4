"""A class-conditional latent diffusion model for inpainting (64x64 pictures on the CPU).

Two networks in one checkpoint:

* an autoencoder from (C, 64, 64) pictures to (4, 16, 16) latents and back (two stride-2
  stages), trained first with a reconstruction loss; latents are scaled to unit variance
  (``latent_scale``, measured on the training set) as latent diffusion does;
* a U-Net over those latents: sinusoidal time embedding, a class embedding with one extra
  "no class" entry (dropped in training, so classifier-free guidance has a scale and "no
  class" works), residual blocks with GroupNorm at 16, 8 and 4 px, self-attention at 4 px.

Inpainting runs the shared samplers (``models.samplers``) in latent space: the mask is
reduced to 16x16 by max-pooling (a latent cell is repainted if any of its pixels is), and the
last step keeps the real pixels outside the mask, blended over a feathered edge.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.checkpoints import Checkpoint, load_state
from models.checkpoints import config_from_card as checkpoint_config
from models.protocol import Capability, InpaintRequest, JobContext
from models.samplers import make_sampler
from models.samplers.repaint import FEATHER, PRESETS, RepaintPreset, feather_mask, inpaint
from models.samplers.schedule import NoiseSchedule, ScheduleConfig


@dataclass(frozen=True)
class DiffusionConfig:
    """Architecture and schedule; stored whole in the model card."""

    image_size: int = 64
    channels: int = 1
    latent_channels: int = 4
    ae_width: int = 32
    unet_width: int = 64
    classes: str = ""                  # class labels (the glyph characters), "" for none
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"

    @property
    def latent_size(self) -> int:
        return self.image_size // 4

    def schedule(self) -> ScheduleConfig:
        # Latents are not bounded like pixels: no clipping of the predicted x_0.
        return ScheduleConfig(num_train_timesteps=self.num_train_timesteps,
                              beta_schedule=self.beta_schedule,
                              prediction_type=self.prediction_type, clip_sample=False)


class Autoencoder(nn.Module):
    """(B, C, H, W) in [0, 1] <-> (B, latent_channels, H/4, W/4)."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        w = cfg.ae_width
        self.encoder = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(4 * w, cfg.latent_channels, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(cfg.latent_channels, 4 * w, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, cfg.channels, 3, padding=1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * 2 - 1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of integer timesteps (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, c: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.norm(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(s, s, s, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """Latents (B, Cz, 16, 16), timesteps (B,), classes (B,) (len(classes) = no class) ->
    the prediction (B, Cz, 16, 16)."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        w, cz = cfg.unet_width, cfg.latent_channels
        emb = 4 * w
        self.w = w
        self.time = nn.Sequential(nn.Linear(w, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(len(cfg.classes) + 1, emb)
        self.inp = nn.Conv2d(cz, w, 3, padding=1)
        self.down1 = ResBlock(w, w, emb)                         # 16
        self.down2 = ResBlock(w, 2 * w, emb)                     # 8
        self.down3 = ResBlock(2 * w, 2 * w, emb)                 # 4
        self.mid = ResBlock(2 * w, 2 * w, emb)
        self.mid_attn = Attention(2 * w)
        self.up3 = ResBlock(4 * w, 2 * w, emb)                   # 4
        self.up2 = ResBlock(4 * w, w, emb)                       # 8
        self.up1 = ResBlock(2 * w, w, emb)                       # 16
        self.out = nn.Sequential(nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, cz, 3, padding=1))

    def forward(self, z: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        e = self.time(timestep_embedding(t, self.w)) + self.label(label)
        h1 = self.down1(self.inp(z), e)
        h2 = self.down2(F.avg_pool2d(h1, 2), e)
        h3 = self.down3(F.avg_pool2d(h2, 2), e)
        m = self.mid_attn(self.mid(h3, e))
        u3 = self.up3(torch.cat([m, h3], 1), e)
        u2 = self.up2(torch.cat([F.interpolate(u3, scale_factor=2.0), h2], 1), e)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0), h1], 1), e)
        return self.out(u1)


class LatentDiffusion(nn.Module):
    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.ae = Autoencoder(cfg)
        self.unet = UNet(cfg)
        self.register_buffer("latent_scale", torch.ones(()))

    @property
    def null_label(self) -> int:
        return len(self.cfg.classes)


class DiffusionBackend:
    """Inpainting (Capability.INPAINT) with a trained LatentDiffusion; numpy in, numpy out."""

    info: Any = None

    def __init__(self, net: LatentDiffusion, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.cfg = net.cfg
        self.schedule = NoiseSchedule(net.cfg.schedule())

    def denoiser(self, label: int | None | torch.Tensor, guidance: float):
        """``denoise(z_t, t)`` with classifier-free guidance: e_null + g (e_class - e_null);
        without a class, the "no class" prediction. ``label`` is one class for the whole
        batch, None, or a tensor (B,) of classes where the null class means none."""
        null = self.net.null_label

        def labels(z: torch.Tensor) -> torch.Tensor:
            if isinstance(label, torch.Tensor):
                return label.to(z.device)
            return torch.full((len(z),), null if label is None else label,
                              device=z.device, dtype=torch.long)

        def denoise(z: torch.Tensor, t: int) -> torch.Tensor:
            tt = torch.full((len(z),), t, device=z.device, dtype=torch.long)
            lab = labels(z)
            none = torch.full_like(lab, null)
            if guidance == 0.0 or bool((lab == null).all()):
                return self.net.unet(z, tt, none)
            if guidance == 1.0:
                return self.net.unet(z, tt, lab)
            both = self.net.unet(torch.cat([z, z]), torch.cat([tt, tt]),
                                 torch.cat([none, lab]))
            e_null, e_cls = both.chunk(2)
            return e_null + guidance * (e_cls - e_null)
        return denoise

    @torch.inference_mode()
    def inpaint(self, request: InpaintRequest, *, ctx: JobContext | None = None,
                feather: float = FEATHER.default) -> np.ndarray:
        """The image (H, W, C) in [0, 1] with the masked part repainted; previews through
        ``ctx`` are the decoded predicted clean images, floats (H, W, C) in [0, 1]."""
        cfg = self.cfg
        want = (cfg.image_size, cfg.image_size, cfg.channels)
        if request.image.shape != want:
            raise ValueError(f"this model paints {want[0]}x{want[1]} pictures with "
                             f"{want[2]} channel(s), not {request.image.shape}")
        if request.label is not None and not 0 <= request.label < len(cfg.classes):
            raise ValueError(f"class {request.label} is not one of this model's "
                             f"{len(cfg.classes)} classes")
        preset = RepaintPreset(request.steps, request.repaint_jumps, request.repaint_resamples)
        labels = None if request.label is None else np.array([request.label])
        return self.inpaint_batch(request.image[None], request.mask[None], labels,
                                  sampler=request.sampler, preset=preset,
                                  guidance=request.guidance, seed=request.seed,
                                  feather=feather, ctx=ctx)[0]

    @torch.inference_mode()
    def inpaint_batch(self, images: np.ndarray, masks: np.ndarray,
                      labels: np.ndarray | None = None, *, sampler: str = "ddim",
                      preset: RepaintPreset = PRESETS["none"], guidance: float = 1.0,
                      seed: int = 0, feather: float = FEATHER.default,
                      ctx: JobContext | None = None) -> np.ndarray:
        """Repaint a batch: images (B, H, W, C) and masks (B, H, W) in [0, 1]; labels (B,)
        with -1 for "no class", or None for none at all. Previews (the first picture) go
        through ``ctx``. Returns (B, H, W, C) float32 in [0, 1]."""
        x = torch.tensor(np.asarray(images, np.float32)).permute(0, 3, 1, 2).to(self.device)
        m = torch.tensor(np.asarray(masks, np.float32))[:, None].to(self.device)
        scale = float(self.net.latent_scale)
        hole = (m > 0.01).float()
        # What is under the mask is to be replaced: the encoder must not see it (the known
        # cells near the hole would carry it back in). Empty background instead.
        z = self.net.ae.encode(x * (1 - hole)) / scale
        # A latent cell is repainted if any of its pixels is.
        mz = F.max_pool2d(hole, 4)
        lab = None
        if labels is not None:
            lab = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=self.device)
            lab = torch.where(lab < 0, torch.full_like(lab, self.net.null_label), lab)

        def to_pixels(zz: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.net.ae.decode_logits(zz * scale))

        def shown(zz: torch.Tensor) -> np.ndarray:
            return to_pixels(zz[:1])[0].permute(1, 2, 0).float().cpu().numpy()

        g = torch.Generator().manual_seed(int(seed))
        out = inpaint(self.denoiser(lab, guidance), make_sampler(sampler, self.schedule),
                      self.schedule, z, mz, preset, generator=g, feather_px=0.0, ctx=ctx,
                      clip=None, preview=shown)
        edge = feather_mask(m, feather)
        img = edge * to_pixels(out) + (1 - edge) * x
        return np.ascontiguousarray(img.permute(0, 2, 3, 1).float().cpu().numpy(),
                                    dtype=np.float32)

    def sample(self, n: int, labels: np.ndarray | None = None, *, steps: int = 50,
               guidance: float = 1.0, seed: int = 0, batch: int = 256,
               ctx: JobContext | None = None) -> np.ndarray:
        """``n`` new pictures (N, H, W, C) in [0, 1] (the whole picture repainted)."""
        c, s = self.cfg.channels, self.cfg.image_size
        out = []
        for i in range(0, n, batch):
            k = min(batch, n - i)
            out.append(self.inpaint_batch(
                np.zeros((k, s, s, c), np.float32), np.ones((k, s, s), np.float32),
                None if labels is None else labels[i:i + k], preset=RepaintPreset(steps, 0, 1),
                guidance=guidance, seed=seed + i, feather=0.0))
            if ctx is not None:
                ctx.report(min(1.0, (i + k) / n))
        return np.concatenate(out)


def config_from_card(card: dict[str, Any]) -> DiffusionConfig:
    return checkpoint_config(DiffusionConfig, card)


def config_to_card(cfg: DiffusionConfig) -> dict[str, Any]:
    return asdict(cfg)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(card)
    return {"capabilities": Capability.INPAINT,
            "image_shape": (cfg.image_size, cfg.image_size, cfg.channels),
            "classes": tuple(cfg.classes), "params": (FEATHER,),
            "description": card.get("description", f"latent diffusion {cfg.image_size}px")}


def load(ckpt: Checkpoint, device: str) -> DiffusionBackend:
    net = LatentDiffusion(config_from_card(ckpt.card))
    load_state(net, ckpt.state)
    return DiffusionBackend(net, device)
