"""Train the latent diffusion model: first its autoencoder, then the U-Net on its latents.

    latent-studio train diffusion --data glyphs --ae-minutes 10 --minutes 45

Both stages run for a wall-clock budget on the best device (a GPU when there is one) with a
cosine learning-rate decay. The autoencoder learns BCE reconstruction with a small L2 on the
latents (so they stay near a fixed scale); ``latent_scale`` is then the latents' standard
deviation on the training set, and the U-Net sees latents divided by it. The U-Net learns
the simple loss ||eps - eps_theta(z_t, t, class)||^2 with the class replaced by "no class"
in ``drop_class`` of the examples (classifier-free guidance). Weights are an exponential
moving average of the U-Net's. ``measure`` writes the test-split figures into the card
(models/eval/inpaint.py).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.checkpoints import save_checkpoint
from models.image.diffusion import DiffusionConfig, LatentDiffusion, config_to_card
from models.protocol import JobContext
from models.samplers.schedule import NoiseSchedule


@dataclass(frozen=True)
class TrainConfig:
    data: str = "glyphs"
    ae_minutes: float = 10.0
    minutes: float = 45.0
    batch: int = 64
    lr: float = 1e-3
    drop_class: float = 0.1
    latent_l2: float = 1e-4
    ae_width: int = 32
    unet_width: int = 64
    ema: float = 0.999
    seed: int = 0
    device: str = "auto"
    max_steps: int = 0          # per stage (0: the budgets decide)
    log_seconds: float = 60.0


def _cosine(step: int, frac: float, lr: float, warmup: int = 200) -> float:
    return lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


def train(cfg: TrainConfig, out: Path, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print, data_card: dict[str, Any] | None = None,
          command: str = "") -> dict[str, Any]:
    """Train both stages and write ``out`` + card (metrics: the training losses only)."""
    from models.train.vae import _data_card as glyph_card
    from models.train.vae import by_split, open_data

    ctx = ctx or JobContext()
    device = cfg.device if cfg.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    g = torch.Generator(device=device).manual_seed(cfg.seed)
    images, d = open_data(cfg.data, data_path)
    splits = by_split(images, d["split"])
    has_labels = "char" in d and "chars" in d
    classes = str(d["chars"]) if has_labels else ""
    train_mask = d["split"] == "train"
    labels = torch.from_numpy(d["char"][train_mask].astype(np.int64)).to(device) \
        if has_labels else None
    h, w, c = splits["train"].shape[1:]
    dcfg = DiffusionConfig(image_size=h, channels=c, ae_width=cfg.ae_width,
                           unet_width=cfg.unet_width, classes=classes)
    net = LatentDiffusion(dcfg).to(device)
    x_all = torch.from_numpy(splits["train"]).to(device)
    n = len(x_all)

    def batch_images(idx: torch.Tensor) -> torch.Tensor:
        return x_all[idx].permute(0, 3, 1, 2).float() / 255.0

    history: list[dict[str, Any]] = []
    # Stage 1: the autoencoder.
    opt = torch.optim.Adam(net.ae.parameters(), lr=cfg.lr)
    t0, step, last = time.time(), 0, 0.0
    while True:
        frac = (time.time() - t0) / (cfg.ae_minutes * 60)
        if frac >= 1 or (cfg.max_steps and step >= cfg.max_steps):
            break
        ctx.report(0.2 * frac)
        for group in opt.param_groups:
            group["lr"] = _cosine(step, frac, cfg.lr)
        x = batch_images(torch.randint(n, (cfg.batch,), device=device, generator=g))
        z = net.ae.encode(x)
        rec = F.binary_cross_entropy_with_logits(net.ae.decode_logits(z), x, reduction="sum")
        loss = rec / len(x) + cfg.latent_l2 * z.pow(2).sum() / len(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if time.time() - last > cfg.log_seconds:
            last = time.time()
            history.append({"stage": "autoencoder", "step": step,
                            "seconds": round(time.time() - t0),
                            "bce": round(float(rec.detach()) / len(x), 3)})
            log(json.dumps(history[-1]))
    ae_steps, ae_seconds = step, time.time() - t0
    net.ae.eval()
    with torch.no_grad():
        # The autoencoder is frozen from here: encode the training set once.
        zs = torch.cat([net.ae.encode(batch_images(torch.arange(i, min(i + 512, n),
                                                                device=device)))
                        for i in range(0, n, 512)])
        net.latent_scale.fill_(float(zs.std()))
        zs /= net.latent_scale
    # Stage 2: the U-Net on scaled latents.
    schedule = NoiseSchedule(dcfg.schedule())
    abar = schedule.alphas_cumprod.float().to(device)
    ema = copy.deepcopy(net.unet).eval()
    opt = torch.optim.Adam(net.unet.parameters(), lr=cfg.lr)
    null = net.null_label
    t0, step, last = time.time(), 0, 0.0
    for p in net.ae.parameters():
        p.requires_grad_(False)
    while True:
        frac = (time.time() - t0) / (cfg.minutes * 60)
        if frac >= 1 or (cfg.max_steps and step >= cfg.max_steps):
            break
        ctx.report(0.2 + 0.8 * frac)
        for group in opt.param_groups:
            group["lr"] = _cosine(step, frac, cfg.lr)
        idx = torch.randint(n, (cfg.batch,), device=device, generator=g)
        z0 = zs[idx]
        t = torch.randint(dcfg.num_train_timesteps, (len(idx),), device=device, generator=g)
        eps = torch.randn(z0.shape, device=device, generator=g)
        a = abar[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        lab = labels[idx] if labels is not None else torch.full_like(t, null)
        drop = torch.rand(len(idx), device=device, generator=g) < cfg.drop_class
        lab = torch.where(drop, torch.full_like(lab, null), lab)
        loss = F.mse_loss(net.unet(zt, t, lab), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.unet.parameters()):
                pe.lerp_(p, 1 - decay)
        step += 1
        if time.time() - last > cfg.log_seconds:
            last = time.time()
            history.append({"stage": "unet", "step": step, "seconds": round(time.time() - t0),
                            "loss": round(float(loss.detach()), 5)})
            log(json.dumps(history[-1]))
    net.unet.load_state_dict(ema.state_dict())
    card = {
        "family": "diffusion",
        "description": f"latent diffusion on {cfg.data} ({h}x{w}x{c}), latents "
                       f"{dcfg.latent_channels}x{dcfg.latent_size}x{dcfg.latent_size}",
        "config": config_to_card(dcfg),
        "data": data_card or glyph_card(cfg.data, splits),
        "training": {
            "command": command or (
                f"latent-studio train diffusion --data {cfg.data} --ae-minutes "
                f"{cfg.ae_minutes:g} --minutes {cfg.minutes:g} --batch {cfg.batch} "
                f"--seed {cfg.seed}"),
            "seed": cfg.seed,
            "hyperparameters": asdict(cfg),
            "device": device if device == "cpu" else torch.cuda.get_device_name(),
            "autoencoder_steps": ae_steps, "autoencoder_seconds": round(ae_seconds),
            "unet_steps": step, "unet_seconds": round(time.time() - t0),
            "latent_scale": round(float(net.latent_scale), 5),
            "history": history,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                       f"torch {torch.__version__}",
        },
        "metrics": {},
    }
    save_checkpoint(out, net.state_dict(), card, half=True)
    return card


def measure(weights: Path, data_path: Path | None = None, cases: int = 1000,
            log=print) -> dict[str, Any]:
    """Measure trained glyph weights on the test split and write the figures in the card."""
    from models.checkpoints import read_card
    from models.eval.inpaint import measure_checkpoint

    if not read_card(weights)["config"].get("classes"):
        raise ValueError(f"{weights}: the measurements need a glyph model (classes)")
    return measure_checkpoint(weights, data_path=data_path, cases=cases, log=log)
