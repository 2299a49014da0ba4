"""Deterministic, seeded dataset builders; built data is cached outside git."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where built data sets live: $LATENT_STUDIO_DATA, else ~/.cache/latent-studio/data."""
    env = os.environ.get("LATENT_STUDIO_DATA")
    base = Path(env) if env else Path.home() / ".cache" / "latent-studio" / "data"
    return base.expanduser()
