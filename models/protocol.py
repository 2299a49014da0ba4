"""What crosses the line between the studio and its backends: flags, infos, requests, contexts.

Only plain data crosses it: frozen dataclasses of scalars and numpy arrays going in,
C-contiguous float32 numpy arrays with a stated range coming out.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Capability(enum.Flag):
    """What a backend can do; panels ask the registry for backends with a capability."""

    NONE = 0
    SAMPLE = enum.auto()
    LATENT = enum.auto()
    STYLE_MIX = enum.auto()
    INPAINT = enum.auto()
    VOCODE = enum.auto()
    ATTRIBUTES = enum.auto()
    FEATURES = enum.auto()

    @property
    def names(self) -> list[str]:
        """Lower-case names of the flags set, e.g. ``['sample', 'latent']``."""
        return [c.name.lower().replace("_", "-") for c in Capability if c and c in self]


class Cancelled(Exception):
    """Raised by :meth:`JobContext.check` when the user asked the job to stop."""


class JobContext:
    """Progress, previews and cooperative cancellation for one long backend call.

    Backends call :meth:`report` and :meth:`check` once per step or batch. The default
    context does nothing, so backends also run plainly in tests and scripts.

    Parameters
    ----------
    on_progress
        Called with ``(fraction, preview)`` from the worker thread.
    """

    def __init__(self, on_progress: Callable[[float, Any], None] | None = None) -> None:
        self._on_progress = on_progress
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next :meth:`check`."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was asked to stop."""
        if self._cancel.is_set():
            raise Cancelled()

    def report(self, fraction: float, preview: Any = None) -> None:
        """Report progress in [0, 1] and optionally a preview; also checks for cancel."""
        self.check()
        if self._on_progress is not None:
            self._on_progress(min(max(float(fraction), 0.0), 1.0), preview)


@dataclass(frozen=True)
class MelSettings:
    """How a vocoder analyses audio into the log-mel spectrogram it reads.

    The convention is HiFi-GAN's (jik876): magnitude STFT of frames that are not centred
    (the signal is reflect-padded by ``(n_fft - hop) / 2`` on both sides, so a clip of
    ``L`` samples gives ``L // hop`` frames), Slaney-normalised mel filters on the Slaney mel
    scale, and ``ln(max(mel, 1e-5))``.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    win: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_json(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop": self.hop,
                "win": self.win, "n_mels": self.n_mels, "fmin": self.fmin, "fmax": self.fmax}


@dataclass(frozen=True)
class BackendInfo:
    """What a panel may know of a backend.

    Attributes
    ----------
    name
        Unique name in the registry (the weight file's stem for built-ins).
    family
        Architecture family, e.g. ``"vae"``.
    capabilities
        What the backend can do.
    source
        ``"builtin"`` (shipped in resources/weights) or ``"checkpoint"`` (opened by the user).
    path
        File the weights come from, or ``""``.
    image_shape
        ``(H, W, C)`` of images the backend reads and writes, or ``()``.
    latent_size
        Dimension of the latent vector, or 0.
    description
        One line for menus and tooltips.
    metrics
        Quality figures from the model card (name -> value).
    mel
        Analysis settings of a vocoder (Capability.VOCODE), else ``None``.
    """

    name: str
    family: str
    capabilities: Capability
    source: str = "builtin"
    path: str = ""
    image_shape: tuple[int, ...] = ()
    latent_size: int = 0
    description: str = ""
    metrics: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    mel: MelSettings | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able view, as ``models list --json`` prints it."""
        return {
            "name": self.name,
            "family": self.family,
            "capabilities": self.capabilities.names,
            "source": self.source,
            "path": self.path,
            "image_shape": list(self.image_shape),
            "latent_size": self.latent_size,
            "description": self.description,
            "metrics": dict(self.metrics),
            "mel": self.mel.to_json() if self.mel is not None else None,
        }


@runtime_checkable
class Backend(Protocol):
    """Every backend has an info."""

    info: BackendInfo


@runtime_checkable
class LatentBackend(Protocol):
    """Images to latents and back (Capability.LATENT and Capability.SAMPLE).

    Images are float32 arrays ``(N, H, W, C)`` in [0, 1]; latents float32 ``(N, D)``.
    """

    info: BackendInfo

    def encode(self, images: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Posterior means ``(N, D)`` of images ``(N, H, W, C)``."""
        ...

    def decode(self, latents: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Images ``(N, H, W, C)`` in [0, 1] of latents ``(N, D)``."""
        ...

    def sample_latents(self, n: int, seed: int) -> np.ndarray:
        """``n`` latents ``(n, D)`` drawn from the prior with ``seed``."""
        ...


@runtime_checkable
class VocoderBackend(Protocol):
    """Log-mel spectrograms to audio (Capability.VOCODE).

    Audio is float32 mono ``(L,)`` in [-1, 1] at ``info.mel.sample_rate``; a mel is float32
    ``(n_mels, T)`` as :class:`MelSettings` describes. ``vocode`` returns ``T * hop`` samples.
    """

    info: BackendInfo

    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        ...
