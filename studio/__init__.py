"""Latent Studio: the Qt application (all Qt and device I/O live here)."""

from models import __version__

__all__ = ["__version__"]
