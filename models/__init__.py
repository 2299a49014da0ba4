"""PyTorch backends of Latent Studio: everything computable without a screen (no Qt here)."""

import os as _os

__version__ = "0.1.0"

# The studio never downloads: what other projects' models need ships in the repository or
# comes from an installed package. Set before any Hugging Face library reads its settings.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE",
              "HF_HUB_DISABLE_TELEMETRY"):
    _os.environ.setdefault(_name, "1")
