"""How far a trained model's samples are from pictures it never saw: the FID (InceptionV3)
of as many samples as held-out pictures against them, beside the FID of samples of the
PCA baseline (a Gaussian over the coefficients of ``k`` components fit on the training
pictures), for any family that samples: VAE, style generator, latent diffusion.

    latent-studio metrics samples MODEL [--write-card]

takes the held-out and training pictures from the prepared set the model's card names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.protocol import JobContext


def pca_samples(train: np.ndarray, n: int, k: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 pictures like ``train`` (N, H, W, C): a Gaussian over the coefficients of
    ``k`` principal components (each its own variance), decoded and clipped."""
    from models.eval.pca import fit_pca

    x = torch.from_numpy(train.reshape(len(train), -1)).float() / 255.0
    pca = fit_pca(x, k)
    coeff = (x - pca.mean) @ pca.components.T
    g = torch.Generator().manual_seed(seed + 11)
    draw = torch.randn(n, k, generator=g) * coeff.std(0)
    pix = (draw @ pca.components + pca.mean).clamp(0, 1).view(n, *train.shape[1:])
    return (pix * 255).round().byte().numpy()


def model_samples(registry: Any, name: str, n: int, seed: int = 0,
                  ctx: JobContext | None = None) -> np.ndarray:
    """``n`` uint8 pictures (N, H, W, C) sampled by a registered model: a latent model's
    prior samples decoded, or a diffusion model's whole pictures."""
    backend = registry.get(name)
    if hasattr(backend, "sample_latents"):
        z = backend.sample_latents(n, seed)
        out = np.concatenate([backend.decode(z[i:i + 128]) for i in range(0, n, 128)])
    elif hasattr(backend, "sample"):
        out = backend.sample(n, seed=seed, ctx=ctx)
    else:
        raise ValueError(f"{name} does not sample pictures")
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a, 3, -1) if a.shape[-1] == 1 else a


def sample_fid(samples: np.ndarray, train: np.ndarray, held: np.ndarray, k: int = 32,
               seed: int = 0, log=print) -> dict[str, float]:
    """FID of ``samples`` and of PCA samples (``k`` components) against ``held``."""
    from models.eval.fid import InceptionFeatures, fid_from_features

    inc = InceptionFeatures("cpu")
    f_held = inc(_rgb(held))
    out = {"fid_samples": round(fid_from_features(inc(_rgb(samples)), f_held), 2),
           "fid_samples_pca": round(fid_from_features(
               inc(_rgb(pca_samples(train, len(held), k, seed))), f_held), 2),
           "fid_pca_components": k, "fid_pictures": int(len(held))}
    log(json.dumps(out))
    return out


def measure(registry: Any, name: str, k: int = 32, seed: int = 0, log=print
            ) -> dict[str, Any]:
    """Sample FIDs of a registered model trained on a prepared set of pictures (its card's
    ``data.prepared``): as many samples as held-out pictures."""
    from models.checkpoints import read_card

    card = read_card(registry.info(name).path)
    prepared = (card.get("data") or {}).get("prepared")
    if not prepared or not Path(prepared).is_file():
        raise FileNotFoundError(f"{name}: its card names no prepared picture set that is "
                                "here (train it on --images, or prepare them again)")
    d = np.load(prepared)
    images = d["images"] if d["images"].ndim == 4 else d["images"][..., None]
    split = d["split"]
    held = images[split == "test"]
    train = images[split == "train"]
    if len(held) < 2:
        raise ValueError(f"{name}: its set holds {len(held)} held-out picture(s); an FID "
                         "needs at least 2 (a few hundred to mean much)")
    samples = model_samples(registry, name, len(held), seed)
    if samples.shape[1:] != held.shape[1:]:
        raise ValueError(f"{name} makes {samples.shape[1:]} pictures, the set holds "
                         f"{held.shape[1:]}")
    return sample_fid(samples, train, held, k, seed, log)
