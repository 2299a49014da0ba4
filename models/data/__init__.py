"""Deterministic, seeded dataset builders; built data is cached outside git."""

from __future__ import annotations

import os
from pathlib import Path

from models.protocol import JobContext


def cache_dir() -> Path:
    """Where built data sets live: $LATENT_STUDIO_DATA, else ~/.cache/latent-studio/data."""
    env = os.environ.get("LATENT_STUDIO_DATA")
    base = Path(env) if env else Path.home() / ".cache" / "latent-studio" / "data"
    return base.expanduser()


DATASETS = ("glyphs", "emoji", "speech")


def dataset_path(name: str) -> Path:
    """Where ``latent-studio data build NAME`` writes the data set."""
    return cache_dir() / f"{name}.npz"


def build_dataset(name: str, out: Path | None = None, seed: int = 0, *,
                  ctx: JobContext | None = None) -> dict:
    """Build one data set (see each builder) and return its summary."""
    if name not in DATASETS:
        raise ValueError(f"no data set named '{name}' (one of {', '.join(DATASETS)})")
    if name == "glyphs":
        from models.data import glyphs as builder
    elif name == "emoji":
        from models.data import emoji as builder
    else:
        from models.data import speech as builder
    return builder.build(out or dataset_path(name), seed=seed, ctx=ctx)
