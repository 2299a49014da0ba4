"""Shared fixtures: isolated settings and data cache, a tiny seeded VAE, and a guard that fails
any test leaving threads running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LATENT_STUDIO_SETTINGS", str(home / "settings.ini"))
    monkeypatch.setenv("LATENT_STUDIO_NO_PROMPT", "1")
    monkeypatch.setenv("LATENT_STUDIO_LIBRARY", str(home / "library.json"))
    monkeypatch.setenv("LATENT_STUDIO_HISTORY", str(home / "history.db"))


@pytest.fixture(autouse=True)
def no_thread_leaks():
    """Fail a test that leaves threads of its own running after it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not extra, f"test left threads running: {[t.name for t in extra]}"


def make_tiny_vae(folder: Path, name: str = "tiny-vae", channels: int = 1, seed: int = 0) -> Path:
    """A small seeded, untrained VAE checkpoint with a full card (for plumbing tests only)."""
    import torch

    from models.checkpoints import save_checkpoint
    from models.image.vae import VAE, VAEConfig, config_to_card

    torch.manual_seed(seed)
    cfg = VAEConfig(image_size=64, channels=channels, latent_dim=4, width=8)
    net = VAE(cfg)
    card = {"family": "vae", "description": "tiny test VAE", "config": config_to_card(cfg),
            "metrics": {"test_mse_vae": 0.5}}
    return save_checkpoint(folder / f"{name}.safetensors", net.state_dict(), card)


@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    folder = tmp_path / "weights"
    make_tiny_vae(folder)
    make_tiny_vae(folder, "tiny-rgb", channels=3, seed=1)
    return folder


def make_tiny_stylegen(folder: Path, name: str = "tiny-stylegen", seed: int = 0) -> Path:
    """A small seeded, untrained style generator (16 px, 6 layers) whose sampler is fit to
    random pictures, with a full card (for plumbing tests only)."""
    import numpy as np
    import torch

    from models.checkpoints import save_checkpoint
    from models.image.stylegen import StyleAutoencoder, StyleGenConfig, config_to_card
    from models.train.stylegen import encode_all, fit_char_content, fit_sampler, layer_card

    torch.manual_seed(seed)
    cfg = StyleGenConfig(image_size=16, channels=1, w_dim=8, width=4, max_width=8,
                         enc_hidden=16, content_layers=2, pca_dim=4, mixture=2, chars="ab")
    net = StyleAutoencoder(cfg).eval()
    with torch.no_grad():       # untrained strengths are 0: give the noise inputs an effect
        for conv in net.synthesis.convs:
            conv.noise_strength.fill_(0.5)
    rng = np.random.default_rng(seed)
    pictures = (rng.random((40, 16, 16, 1)) * 255).astype(np.uint8)
    codes = encode_all(net, pictures, "cpu")
    fit_sampler(net, codes, iters=5)
    fit_char_content(net, codes[:8].view(4, 2, *codes.shape[1:]))
    card = {"family": "stylegen", "description": "tiny test style generator",
            "config": config_to_card(cfg), "layers": layer_card(cfg),
            "metrics": {"test_mse_recon": 0.5}}
    return save_checkpoint(folder / f"{name}.safetensors", net.state_dict(), card)


def make_inpaint_weights(folder: Path) -> Path:
    """A weights folder of a tiny diffusion model and a tiny VAE (the Inpainting panel's)."""
    make_tiny_diffusion(folder)
    make_tiny_vae(folder)
    return folder


def make_tiny_diffusion(folder: Path, name: str = "tiny-diffusion", seed: int = 0,
                        classes: str = "abc") -> Path:
    """A small seeded, untrained latent diffusion model (16 px, classes ``classes``) whose
    U-Net output is not zero, with a card (for plumbing tests only)."""
    import torch

    from models.checkpoints import save_checkpoint
    from models.image.diffusion import DiffusionConfig, LatentDiffusion, config_to_card

    torch.manual_seed(seed)
    cfg = DiffusionConfig(image_size=16, channels=1, latent_channels=4, ae_width=8,
                          unet_width=8, classes=classes, num_train_timesteps=100)
    net = LatentDiffusion(cfg)
    with torch.no_grad():
        for p in net.unet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    card = {"family": "diffusion", "description": "tiny test diffusion model",
            "config": config_to_card(cfg)}
    return save_checkpoint(folder / f"{name}.safetensors", net.state_dict(), card)
