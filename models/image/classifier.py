"""Glyph classifier: which of the 62 characters an image shows. Its 128-d penultimate
features are the domain feature space for FID/KID; its class probabilities give IS."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoints import Checkpoint, load_state
from models.checkpoints import config_from_card as checkpoint_config
from models.protocol import Capability, JobContext


@dataclass(frozen=True)
class ClassifierConfig:
    image_size: int = 64
    channels: int = 1
    classes: int = 62
    width: int = 32
    feature_dim: int = 128


class GlyphClassifier(nn.Module):
    """(B, C, H, W) in [0, 1] -> features (B, F) and logits (B, classes)."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        layers: list[nn.Module] = []
        for a, b in ((cfg.channels, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 4 * w)):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(),
                       nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4 * w, cfg.feature_dim), nn.ReLU())
        self.head = nn.Linear(cfg.feature_dim, cfg.classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x * 2 - 1)
        return f, self.head(f)


class ClassifierBackend:
    """Features and class probabilities of images; numpy in, numpy out."""

    info: Any = None
    name = "glyphs"

    def __init__(self, net: GlyphClassifier, device: str = "cpu", batch: int = 256) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.batch = batch
        self.dim = net.cfg.feature_dim

    def _prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, H, W, 3) of any size, or float (N, 64, 64, C): to the net's input."""
        from PIL import Image

        from models.image.io import to_model_image

        cfg = self.net.cfg
        shape = (cfg.image_size, cfg.image_size, cfg.channels)
        if images.dtype == np.uint8:
            return np.stack([to_model_image(Image.fromarray(im), shape, frame=False)[0]
                             for im in images])
        return np.asarray(images, dtype=np.float32)

    @torch.inference_mode()
    def run(self, images: np.ndarray, ctx: JobContext | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, F) float64 and class probabilities (N, classes) float64."""
        x = self._prepare(images)
        feats, probs = [], []
        for i in range(0, len(x), self.batch):
            if ctx is not None:
                ctx.report(i / len(x))
            t = torch.from_numpy(x[i:i + self.batch]).permute(0, 3, 1, 2).to(self.device)
            f, logits = self.net(t)
            feats.append(f.double().cpu())
            probs.append(torch.softmax(logits.double(), 1).cpu())
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()

    def __call__(self, images: np.ndarray, ctx: JobContext | None = None) -> np.ndarray:
        return self.run(images, ctx)[0]


def config_from_card(card: dict[str, Any]) -> ClassifierConfig:
    return checkpoint_config(ClassifierConfig, card)


def config_to_card(cfg: ClassifierConfig) -> dict[str, Any]:
    return asdict(cfg)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    from models.data.glyphs import CHARS

    cfg = config_from_card(card)
    # Trained on the glyph set, whose labels are the characters of CHARS in order.
    classes = tuple(card.get("classes", CHARS if cfg.classes == len(CHARS) else ()))
    return {"capabilities": Capability.FEATURES,
            "image_shape": (cfg.image_size, cfg.image_size, cfg.channels),
            "latent_size": 0, "classes": classes,
            "description": card.get("description", "glyph classifier")}


def load(ckpt: Checkpoint, device: str) -> ClassifierBackend:
    net = GlyphClassifier(config_from_card(ckpt.card))
    load_state(net, ckpt.state)
    return ClassifierBackend(net, device)
