"""PyTorch backends of Latent Studio: everything computable without a screen (no Qt here)."""

__version__ = "0.1.0"
