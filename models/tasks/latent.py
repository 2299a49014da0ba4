"""Latent-model jobs shared by the Latent Explorer and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.image.io import save_gif, save_strip
from models.protocol import JobContext
from models.registry import Registry

EXPORT_SUFFIXES = (".png", ".gif")


def export_frames(registry: Registry, model: str, latents: np.ndarray, out: str | Path,
                  scale: int = 1, smooth: bool = False, *, ctx: JobContext | None = None,
                  recipe: Any = None) -> str:
    """Decode latents ``(N, D)`` and write them as a strip (.png) or a looping GIF (.gif),
    each frame ``scale`` times larger (pixel blocks, or ``smooth``), with ``recipe`` in it."""
    out = str(out)
    if not out.lower().endswith(EXPORT_SUFFIXES):
        raise ValueError(f"{out}: write a strip (.png) or an animation (.gif)")
    frames = registry.get(model).decode(latents, ctx=ctx)
    save = save_gif if out.lower().endswith(".gif") else save_strip
    save(frames, out, scale=scale, smooth=smooth, recipe=recipe)
    return out
