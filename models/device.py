"""Which torch device backends run on, and how many threads torch may use."""

from __future__ import annotations

import os

import torch

_current = "cpu"


def available_devices() -> list[str]:
    """Devices usable here, best first, always ending with ``"cpu"``."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def best_device() -> str:
    return available_devices()[0]


def set_device(name: str) -> str:
    """Choose the device new backends load on; an unavailable one falls back to the CPU.

    Returns
    -------
    str
        The device actually chosen.
    """
    global _current
    _current = name if name in available_devices() else "cpu"
    return _current


def current_device() -> str:
    return _current


def configure_threads(reserve: int = 1) -> int:
    """Let torch use all cores but ``reserve``, so the UI thread keeps one on small machines.

    Returns
    -------
    int
        The number of intra-op threads torch now uses.
    """
    n = max(1, (os.cpu_count() or 1) - reserve)
    torch.set_num_threads(n)
    return n
