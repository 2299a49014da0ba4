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
    PROMPT = enum.auto()          # text-to-image, img2img and inpainting at any size
    ANY_SIZE = enum.auto()        # latents of pictures at their own size (Registry.sized)

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

    def part(self, start: float, end: float) -> JobContext:
        """A context for one stage of this job: its progress 0..1 is reported as
        ``start``..``end`` of the whole; a cancel of the whole stops it too."""
        outer = self

        def forward(fraction: float, preview: Any) -> None:
            if outer._on_progress is not None:
                outer._on_progress(start + (end - start) * fraction, preview)

        child = JobContext(forward)
        child._cancel = self._cancel
        return child


@dataclass(frozen=True)
class MelSettings:
    """How a vocoder analyses audio into the log-mel spectrogram it reads.

    The convention is HiFi-GAN's (jik876): magnitude STFT of frames that are not centred
    (the signal is reflect-padded by ``(n_fft - hop) / 2`` on both sides, so a clip of
    ``L`` samples gives ``L // hop`` frames), Slaney-normalised mel filters on the Slaney mel
    scale, and ``ln(max(mel, 1e-5))``. A vocoder that analyses another way names its
    ``convention`` (``"vocos"``: charactr's Vocos, centred frames, HTK mel scale without
    normalisation, ``ln(max(mel, 1e-7))``), so its mels never pass for another's.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    win: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    convention: str = "hifigan"

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_json(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop": self.hop,
                "win": self.win, "n_mels": self.n_mels, "fmin": self.fmin, "fmax": self.fmax,
                "convention": self.convention}


PARAM_KINDS = ("int", "float", "choice", "bool")


@dataclass(frozen=True)
class ParamSpec:
    """One setting a backend takes per call (Griffin-Lim's iterations, a sampler's steps).

    Panels build a control and the command line a ``--param NAME=VALUE`` from it; the value
    reaches the backend as the keyword ``name``.
    """

    name: str
    kind: str                          # one of PARAM_KINDS
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"setting '{self.name}': kind '{self.kind}' is not one of "
                             f"{', '.join(PARAM_KINDS)}")
        if bool(self.choices) != (self.kind == "choice"):
            raise ValueError(f"setting '{self.name}': choices go with kind 'choice' only")

    def check(self, value: Any) -> Any:
        """``value`` (a string from the command line, or a number) converted to this
        setting's kind and checked against its range; ValueError says what is wrong."""
        try:
            if self.kind == "int":
                out: Any = int(value)
            elif self.kind == "float":
                out = float(value)
            elif self.kind == "bool":
                out = value if isinstance(value, bool) else str(value).lower() in (
                    "1", "true", "yes", "on")
            else:
                out = str(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} takes a number ({self.kind}), "
                             f"not '{value}'") from None
        if self.kind == "choice" and out not in self.choices:
            raise ValueError(f"{self.name} is one of {', '.join(self.choices)}, not '{out}'")
        if self.kind in ("int", "float"):
            if self.minimum is not None and out < self.minimum:
                raise ValueError(f"{self.name} is at least {self.minimum:g}, not {out}")
            if self.maximum is not None and out > self.maximum:
                raise ValueError(f"{self.name} is at most {self.maximum:g}, not {out}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "default": self.default,
                "minimum": self.minimum, "maximum": self.maximum,
                "choices": list(self.choices), "unit": self.unit, "help": self.help}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ParamSpec:
        return cls(name=str(d["name"]), kind=str(d["kind"]), default=d.get("default"),
                   minimum=d.get("minimum"), maximum=d.get("maximum"),
                   choices=tuple(d.get("choices", ())), unit=str(d.get("unit", "")),
                   help=str(d.get("help", "")))


def check_params(specs: tuple[ParamSpec, ...], values: dict[str, Any], owner: str
                 ) -> dict[str, Any]:
    """``values`` checked against ``specs`` (ValueError names an unknown setting)."""
    by_name = {p.name: p for p in specs}
    out = {}
    for name, value in values.items():
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ValueError(f"'{owner}' has no setting '{name}' (its settings: {known})")
        out[name] = by_name[name].check(value)
    return out


@dataclass(frozen=True)
class StyleSpec:
    """The style space of a style-based generator (Capability.STYLE_MIX)."""

    layers: int                      # per-layer codes in W+ (one per synthesis layer)
    w_dim: int                       # size of one code
    resolutions: tuple[int, ...] = ()    # output side of each layer, e.g. (4, 4, 8, 8, ...)
    content_layers: int = 0          # rows 0..content_layers-1 carry content, the rest style

    def to_json(self) -> dict[str, Any]:
        return {"layers": self.layers, "w_dim": self.w_dim,
                "resolutions": list(self.resolutions), "content_layers": self.content_layers}


@dataclass(frozen=True)
class AttributeSpec:
    """One named attribute a model analyses and controls (Capability.ATTRIBUTES)."""

    name: str                        # e.g. "pitch", "snr", "c50", "bold"
    unit: str                        # e.g. "Hz", "dB", ""
    minimum: float
    maximum: float
    per_frame: bool = False          # a curve over time (pitch, loudness) or one value
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "minimum": self.minimum,
                "maximum": self.maximum, "per_frame": self.per_frame, "help": self.help}


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
    params
        The settings its calls take (e.g. Griffin-Lim's ``iters``), from its model card.
    style
        The W+ space of a style generator, else ``None``.
    attributes
        The attributes an attribute model analyses and controls.
    classes
        Class labels a conditional model takes (e.g. the 62 glyph characters), or ``()``.
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
    params: tuple[ParamSpec, ...] = ()
    style: StyleSpec | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    classes: tuple[str, ...] = ()

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
            "params": [p.to_json() for p in self.params],
            "style": self.style.to_json() if self.style is not None else None,
            "attributes": [a.to_json() for a in self.attributes],
            "classes": list(self.classes),
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

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        """The mel ``(n_mels, T)`` of mono audio at ``info.mel.sample_rate``, with the
        backend's own analysis (the spectrogram editor always uses it)."""
        ...

    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None,
               **params: Any) -> np.ndarray:
        """Audio of a mel; ``params`` are the settings ``info.params`` declares."""
        ...


# -- requests: what a panel asks of a backend, as plain frozen data -------------------------

def _array(x: Any, ndim: int, what: str) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return a


@dataclass(frozen=True)
class VocodeRequest:
    """A mel ``(n_mels, T)`` and the vocoder's settings (Capability.VOCODE)."""

    mel: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mel", _array(self.mel, 2, "mel"))


@dataclass(frozen=True)
class StyleMixRequest:
    """Codes ``(layers, w_dim)`` of A and B; layers in ``from_b`` take B's codes, the rest
    A's (the crossover is always explicit). ``psi`` blends toward the mean code (truncation)
    for layers below ``cutoff``; ``noise_seed`` fixes the per-layer noise (None: none) and
    ``noise_strength`` scales it per layer (empty: 1 everywhere)."""

    codes_a: np.ndarray
    codes_b: np.ndarray
    from_b: tuple[int, ...]
    psi: float = 1.0
    cutoff: int | None = None
    noise_seed: int | None = 0
    noise_strength: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        a = _array(self.codes_a, 2, "codes of A")
        b = _array(self.codes_b, 2, "codes of B")
        if a.shape != b.shape:
            raise ValueError(f"codes of A {a.shape} and B {b.shape} differ")
        bad = [k for k in self.from_b if not 0 <= k < a.shape[0]]
        if bad:
            raise ValueError(f"layers {bad} are outside 0..{a.shape[0] - 1}")
        object.__setattr__(self, "codes_a", a)
        object.__setattr__(self, "codes_b", b)
        object.__setattr__(self, "from_b", tuple(sorted(set(self.from_b))))

    def mixed(self) -> np.ndarray:
        """The W+ codes ``(layers, w_dim)`` this request asks for (before truncation)."""
        out = self.codes_a.copy()
        out[list(self.from_b)] = self.codes_b[list(self.from_b)]
        return out


@dataclass(frozen=True)
class InpaintRequest:
    """An image ``(H, W, C)`` in [0, 1], a mask ``(H, W)`` in [0, 1] (1 = repaint, the
    diffusers polarity), and how to sample."""

    image: np.ndarray
    mask: np.ndarray
    steps: int = 50
    sampler: str = "ddim"
    guidance: float = 1.0
    label: int | None = None           # class to condition on, None: unconditional
    seed: int = 0
    repaint_jumps: int = 0             # RePaint: jump length (0: no resampling)
    repaint_resamples: int = 1

    def __post_init__(self) -> None:
        image = _array(self.image, 3, "image")
        mask = _array(self.mask, 2, "mask")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "mask", np.clip(mask, 0.0, 1.0))


@dataclass(frozen=True)
class GenerateRequest:
    """A prompted generation (Capability.PROMPT) at ``width`` x ``height`` (multiples of
    8): text-to-image without ``image``; img2img with it; inpainting with ``mask`` too
    (``(H, W)`` in [0, 1], 1 = repaint). ``loras``: (file, weight) pairs, all active at once.
    ``preview_decode_every`` > 0 decodes the preview through the VAE every that many steps
    (a cheap projection of the latent otherwise). ``embeddings``: textual-inversion files;
    a file's name without its extension is the word that calls it in the prompt."""

    prompt: str = ""
    negative: str = ""
    steps: int = 25
    guidance: float = 7.5
    scheduler: str = "default"
    seed: int = 0
    width: int = 512
    height: int = 512
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    strength: float = 1.0
    loras: tuple[tuple[str, float], ...] = ()
    preview_decode_every: int = 0
    embeddings: tuple[str, ...] = ()          # textual inversions; each file's stem is its word

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if self.width % 8 or self.height % 8 or self.width < 8 or self.height < 8:
            raise ValueError(f"the size must be multiples of 8, not {self.width}x{self.height}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be above 0 and at most 1, not {self.strength:g}")
        if self.image is not None:
            image = _array(self.image, 3, "image")
            if image.shape[:2] != (self.height, self.width):
                raise ValueError(f"the picture is {image.shape[1]}x{image.shape[0]}, the "
                                 f"request {self.width}x{self.height}")
            object.__setattr__(self, "image", image)
        if self.mask is not None:
            mask = _array(self.mask, 2, "mask")
            if mask.shape != (self.height, self.width):
                raise ValueError(f"mask {mask.shape} does not match the size "
                                 f"{self.width}x{self.height}")
            object.__setattr__(self, "mask", np.clip(mask, 0.0, 1.0))


@dataclass(frozen=True)
class AttributeRequest:
    """Change named attributes of a clip's mel: relative shifts (``pitch`` in semitones,
    ``loudness`` in dB) or targets (``snr``, ``c50`` in dB), by AttributeSpec name."""

    mel: np.ndarray
    changes: dict[str, float] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)   # drawn per-frame targets

    def __post_init__(self) -> None:
        object.__setattr__(self, "mel", _array(self.mel, 2, "mel"))


# -- what the next families provide ----------------------------------------------------------

@runtime_checkable
class StyleBackend(Protocol):
    """A style-based generator (Capability.STYLE_MIX): seeds and pictures to W+ codes and
    codes to images ``(N, H, W, C)`` in [0, 1]; ``info.style`` says the layers."""

    info: BackendInfo

    def codes_from_seeds(self, seeds: list[int], label: int | None = None) -> np.ndarray:
        """W+ codes ``(N, layers, w_dim)`` through the mapping network; ``label``: the class
        of a conditional model (``info.classes``), ignored by others."""
        ...

    def encode_codes(self, images: np.ndarray, *, ctx: JobContext | None = None
                     ) -> np.ndarray:
        """W+ codes ``(N, layers, w_dim)`` of pictures ``(N, H, W, C)``."""
        ...

    def mean_code(self) -> np.ndarray:
        """The mean code ``(layers, w_dim)`` that truncation blends toward."""
        ...

    def synthesize(self, requests: list[StyleMixRequest], *, ctx: JobContext | None = None
                   ) -> np.ndarray:
        """Images ``(N, H, W, C)`` of mixed codes."""
        ...


@runtime_checkable
class NoiseScheduler(Protocol):
    """A diffusion sampler's step API, in the spirit of diffusers' schedulers: one noise
    schedule, ``set_timesteps`` then ``step`` per timestep, every draw from an explicit
    generator."""

    timesteps: np.ndarray

    def set_timesteps(self, steps: int) -> None:
        ...

    def step(self, model_output: Any, timestep: int, sample: Any, generator: Any = None
             ) -> tuple[Any, Any]:
        """(the previous, less noisy sample; the predicted clean sample)."""
        ...


@runtime_checkable
class InpaintBackend(Protocol):
    """A diffusion model that repaints the masked part of an image (Capability.INPAINT);
    previews of the predicted clean image go through ``ctx.report``."""

    info: BackendInfo

    def inpaint(self, request: InpaintRequest, *, ctx: JobContext | None = None
                ) -> np.ndarray:
        ...


@runtime_checkable
class AttributeBackend(Protocol):
    """Analyses named attributes of speech (Capability.ATTRIBUTES)."""

    info: BackendInfo

    def analyse_attributes(self, mel: np.ndarray, *, ctx: JobContext | None = None
                           ) -> dict[str, np.ndarray]:
        """Per attribute of ``info.attributes``: a curve ``(T,)`` or one value ``(1,)``."""
        ...


@runtime_checkable
class AttributeEditor(AttributeBackend, Protocol):
    """An attribute model that also controls them: regenerates the mel with the attributes
    changed (attributes-speech; models/audio/speech_edit.py makes audio of it)."""

    def edit(self, request: AttributeRequest, *, ctx: JobContext | None = None) -> np.ndarray:
        """The mel ``(n_mels, T)`` with the attributes changed."""
        ...
