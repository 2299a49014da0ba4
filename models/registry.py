"""One registry through which built-in models and user checkpoints load the same way.

A family module (e.g. ``models.image.vae``), listed in FAMILIES, provides the hooks::

    describe(card) -> dict      # capabilities, image_shape, latent_size, description,
                                # mel (vocoders), params (ParamSpecs its calls take)
    load(checkpoint, device) -> backend   # the backend has an ``info`` attribute set by us

and, for checkpoints in a foreign format (a HiFi-GAN folder, a diffusers folder), optionally::

    sniff(path) -> bool                   # whether ``path`` is one of its files
    read_checkpoint(path) -> Checkpoint   # weights + a card made from its own config
    read_card(path) -> dict               # that card without loading the weights

A family whose latents follow the picture's size (Capability.ANY_SIZE: Stable Diffusion's
VAE) adds ``working_size(card, h, w) -> (h, w)`` and ``view_info(card, info, h, w) -> dict``,
and its backend ``at_size(h, w)``; :meth:`Registry.sized` names a fixed-size view of it.

A card may also list ``params`` (ParamSpec JSON); they add to the family's. Nothing else in
the studio knows a family by name.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from models import device as devices
from models.checkpoints import CheckpointError, first_line, load_checkpoint, read_card
from models.files import fingerprint
from models.protocol import BackendInfo, Capability, ParamSpec

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "resources" / "weights"
# capability name (lower case) -> the shipped model to start with, where several can do it
DEFAULTS_FILE = "defaults.json"

FAMILIES: dict[str, str] = {
    "vae": "models.image.vae",
    "classifier": "models.image.classifier",
    "stylegen": "models.image.stylegen",
    "stylegan-pkl": "models.image.stylegan_pkl",
    "stylegan2-rosinality": "models.image.stylegan_rosinality",
    "diffusion": "models.image.diffusion",
    "diffusers-unet": "models.image.diffusers_unet",
    "stable-diffusion": "models.image.sd",
    "sd-vae": "models.image.sd_vae",
    "vocos": "models.audio.vocos",
    "bigvgan": "models.audio.nvidia_bigvgan",       # before hifigan: both read config.json
    "vocos-package": "models.audio.vocos_package",
    "hifigan": "models.audio.hifigan",
    "griffinlim": "models.audio.griffinlim",
    "ancogen": "models.audio.ancogen",
    "sourcefilter": "models.audio.sourcefilter",
}

# Built-ins that need no weights of their own: name -> card (family + config); a JSON card
# of the same name in the weights folder adds to it (what was measured).
WEIGHTLESS: dict[str, dict[str, Any]] = {
    "griffinlim": {"family": "griffinlim", "config": {}},
    "source-filter": {"family": "sourcefilter", "config": {"pitch_model": "attributes-speech"}},
}


def family_module(family: str) -> Any:
    if family == "lora":
        raise CheckpointError("a LoRA, not a model: add it to a Stable Diffusion model's LoRA "
                              "list in the Inpainting panel (or --lora FILE:WEIGHT)")
    if family not in FAMILIES:
        known = ", ".join(sorted(FAMILIES))
        raise CheckpointError(f"unknown model family '{family}' (known: {known})")
    return importlib.import_module(FAMILIES[family])


def describe(path: Path, card: dict[str, Any], source: str) -> BackendInfo:
    """BackendInfo of a weights file from its card alone (no weights loaded)."""
    mod = family_module(str(card["family"]))
    try:
        d = mod.describe(card)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the model card's config is not valid ({exc})") from None
    metrics = {k: float(v) for k, v in card.get("metrics", {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    try:
        params = tuple(d.get("params", ())) + tuple(ParamSpec.from_json(p)
                                                    for p in card.get("params", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the model card's params are not valid ({exc})") from None
    stem = f"{path.stem} {card['name_tag']}" if card.get("name_tag") else path.stem
    return BackendInfo(
        name=stem if source == "builtin" else f"{stem} ({path.parent.name})",
        family=str(card["family"]),
        capabilities=d["capabilities"],
        source=source,
        path=str(path),
        image_shape=tuple(d.get("image_shape", ())),
        latent_size=int(d.get("latent_size", 0)),
        description=str(d.get("description", card.get("description", ""))),
        metrics=metrics,
        mel=d.get("mel"),
        params=params,
        style=d.get("style"),
        attributes=tuple(d.get("attributes", ())),
        classes=tuple(d.get("classes", ())),
    )


class Registry:
    """Backends by name; weights load lazily on first use and stay cached per device.

    Parameters
    ----------
    weights_dir
        Folder of shipped ``*.safetensors`` + ``*.json`` models.
    """

    def __init__(self, weights_dir: Path | None = WEIGHTS_DIR) -> None:
        self._infos: dict[str, BackendInfo] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._used: dict[tuple[str, str], float] = {}          # key -> last get()
        self._loading: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self._defaults: dict[str, str] = {}
        self._weightless_cards: dict[str, dict[str, Any]] = {}
        self._configs: dict[str, str] = {}          # name -> a checkpoint's --config
        self._views: dict[str, tuple[str, int, int]] = {}   # view -> (model, height, width)
        self._view_cards: dict[str, dict[str, Any]] = {}    # model of any size -> its card
        # A user checkpoint's name -> how it was opened (path, config, capability) and its
        # fingerprint: what a session needs to open it again (:meth:`checkpoint_sources`).
        self._sources: dict[str, dict[str, str]] = {}
        # Wraps every model load (the studio keeps the garbage collector out of loads:
        # studio/gcpolicy.py); a context manager factory.
        self.load_guard: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._load_options: dict[str, dict[str, Any]] = {}
        if weights_dir is not None and (Path(weights_dir) / DEFAULTS_FILE).is_file():
            try:
                self._defaults = {str(k): str(v) for k, v in json.loads(
                    (Path(weights_dir) / DEFAULTS_FILE).read_text()).items()}
            except (OSError, ValueError, AttributeError) as exc:
                self.problems.append(f"{DEFAULTS_FILE}: not readable ({exc})")
        if weights_dir is not None and Path(weights_dir).is_dir():
            for path in sorted(Path(weights_dir).glob("*.safetensors")):
                try:
                    self._add(describe(path, read_card(path), "builtin"))
                except CheckpointError as exc:
                    self.problems.append(str(exc))
        for name, card in WEIGHTLESS.items():
            extra = Path(weights_dir) / f"{name}.json" if weights_dir is not None else None
            if extra is not None and extra.is_file():
                try:
                    card = {**json.loads(extra.read_text()), **card}
                except (OSError, ValueError) as exc:
                    self.problems.append(f"{extra.name}: not readable ({exc})")
            self._weightless_cards[name] = card
            self._add(replace(describe(Path(name), card, "builtin"), path=""))

    def _add(self, info: BackendInfo) -> BackendInfo:
        name, n = info.name, 2
        while name in self._infos and (self._infos[name].path, self._infos[name].family) != (
                info.path, info.family):
            name, n = f"{info.name} #{n}", n + 1
        info = replace(info, name=name)
        self._infos[name] = info
        return info

    def add_checkpoint(self, path: str | Path, config: str | None = None,
                       capability: Capability = Capability.NONE) -> BackendInfo:
        """Register a user checkpoint; it is loaded once to check it really builds, unless
        its family is heavy (``LAZY``: Stable Diffusion), whose files are only read for their
        configs here and load on first use. ``config`` names the configs a single-file
        checkpoint takes (families that read one). ``capability``: what the caller wants of
        it, when several families read the file (a Stable Diffusion checkpoint opened for
        its latent space is its VAE); the first family that reads it otherwise."""
        path = Path(path).expanduser().resolve()
        ckpt, info = None, None
        for mod in _claimants(path) if capability else ():
            ckpt = mod.read_checkpoint(path, config) if config else mod.read_checkpoint(path)
            info = describe(path, ckpt.card, "checkpoint")
            if capability in info.capabilities:
                break
            ckpt, info = None, None
        if ckpt is None:
            ckpt = _read_any(path, config)
            info = describe(path, ckpt.card, "checkpoint")
        lazy = getattr(family_module(info.family), "LAZY", False)
        backend = None if lazy else self._build(info, ckpt, "cpu")
        info = self._add(info)
        if config:
            self._configs[info.name] = str(config)
        self._sources[info.name] = {
            "name": info.name, "path": str(path), "config": str(config or ""),
            "capability": capability.name or "", "fingerprint": fingerprint(path)}
        if backend is not None:
            backend.info = info
            with self._lock:
                self._loaded[(info.name, "cpu")] = backend
                self._used[(info.name, "cpu")] = time.monotonic()
        return info

    def checkpoint_sources(self) -> list[dict[str, str]]:
        """Every user checkpoint registered: its name, path, config, the capability it was
        opened for and its content's fingerprint (:func:`models.files.fingerprint`)."""
        return [dict(s) for s in self._sources.values()]

    def set_load_options(self, name: str, **options: Any) -> None:
        """How ``name`` loads (e.g. Stable Diffusion's precision, offload, attention
        slicing); a copy already in memory is dropped so the next use reloads it."""
        self.info(name)
        if self._load_options.get(name, {}) == options:
            return
        self._load_options[name] = dict(options)
        with self._lock:
            for key in [k for k in self._loaded if k[0] == name]:
                del self._loaded[key]
                self._used.pop(key, None)

    def infos(self, capability: Capability = Capability.NONE) -> list[BackendInfo]:
        """Backends having every flag in ``capability``, built-ins first (sized views of a
        model are not listed: see :meth:`sized`)."""
        out = [i for i in self._infos.values()
               if capability in i.capabilities and i.name not in self._views]
        return sorted(out, key=lambda i: (i.source != "builtin", i.name))

    def default(self, capability: Capability) -> str:
        """The model to start with for ``capability``: the one ``defaults.json`` beside the
        shipped weights names (set by measurement, see the cards), else the first with
        weights, else the first; "" when none has it."""
        infos = self.infos(capability)
        if not infos:
            return ""
        chosen = self._defaults.get(capability.name.lower(), "")
        if any(i.name == chosen for i in infos):
            return chosen
        return next((i.name for i in infos if i.path), infos[0].name)

    def info(self, name: str) -> BackendInfo:
        if name not in self._infos:
            raise KeyError(f"no model named '{name}' (see 'latent-studio models list')")
        return self._infos[name]

    def sized(self, name: str, height: int, width: int) -> str:
        """The model to use for a picture of ``height`` x ``width``: ``name`` itself, or,
        when its latents follow the picture's size (Capability.ANY_SIZE), a view of it at
        the size the family works such a picture at (e.g. ``"sd15 VAE (x) @ 768x512"``),
        registered here with that fixed image shape and latent size."""
        info = self.info(name)
        if Capability.ANY_SIZE not in info.capabilities or name in self._views:
            return name
        mod = family_module(info.family)
        # Panels ask at every frame: the card (read from the files) is read once.
        card = self._view_cards.get(name)
        if card is None:
            card = self._view_cards[name] = self.card(name)
        h, w = mod.working_size(card, height, width)
        view = f"{name} @ {w}x{h}"
        with self._lock:
            if view not in self._infos:
                self._infos[view] = replace(info, name=view,
                                            **mod.view_info(card, info, h, w))
                self._views[view] = (name, h, w)
        return view

    def view_of(self, name: str) -> str:
        """The model a sized view is of (``name`` itself for a model)."""
        return self._views[name][0] if name in self._views else name

    def get(self, name: str, device: str | None = None, ctx: Any = None) -> Any:
        """The backend ``name`` on ``device`` (default: the current device), loading it once;
        a heavy (``LAZY``) family reports its loading through ``ctx`` (a JobContext).

        No lock is held while a model loads: other models stay available to other threads,
        and a second caller for the same model waits for the first one's load."""
        info = self.info(name)
        if name in self._views:
            model, h, w = self._views[name]
            view = self.get(model, device, ctx).at_size(h, w)
            view.info = info
            return view
        key = (name, device or devices.current_device())
        while True:
            with self._lock:
                if key in self._loaded:
                    self._used[key] = time.monotonic()
                    return self._loaded[key]
                pending = self._loading.get(key)
                if pending is None:
                    self._loading[key] = threading.Event()
                    break
            pending.wait()          # loaded (or failed: then this caller tries itself)
        try:
            config = self._configs.get(name)
            options = dict(self._load_options.get(name, {}))
            if ctx is not None and getattr(family_module(info.family), "LAZY", False):
                options["ctx"] = ctx
            with self.load_guard():
                ckpt = None if not info.path else _read_any(Path(info.path), config,
                                                            info.family)
                backend = self._build(info, ckpt, key[1], options)
            with self._lock:
                self._loaded[key] = backend
                self._used[key] = time.monotonic()
            return backend
        finally:
            with self._lock:
                self._loading.pop(key).set()

    def loaded(self) -> list[tuple[str, str]]:
        """(name, device) of every model in memory."""
        with self._lock:
            return sorted(self._loaded)

    def release(self, *, idle_s: float | None = None, keep_device: str | None = None
                ) -> list[tuple[str, str]]:
        """Free models not used for ``idle_s`` seconds, or loaded on another device than
        ``keep_device`` (after a device switch); returns what was freed. A freed model loads
        again on its next use."""
        now = time.monotonic()
        with self._lock:
            drop = [k for k in self._loaded
                    if (idle_s is not None and now - self._used.get(k, 0.0) > idle_s)
                    or (keep_device is not None and k[1] != keep_device)]
            for k in drop:
                del self._loaded[k]
                self._used.pop(k, None)
        if any(dev == "cuda" for _, dev in drop):
            import torch

            torch.cuda.empty_cache()
        return drop

    def card(self, name: str) -> dict[str, Any]:
        """The model card of ``name`` (a foreign checkpoint's own config as a card, or the
        info itself for a model without weights)."""
        info = self.info(name)
        if not info.path:
            card = self._weightless_cards.get(name)
            return {**info.to_json(), **card} if card else info.to_json()
        mod = family_module(info.family)
        reader = getattr(mod, "read_card", None)
        if reader is not None:
            config = self._configs.get(name)
            return reader(Path(info.path), config) if config else reader(Path(info.path))
        return read_card(Path(info.path))

    @staticmethod
    def _build(info: BackendInfo, ckpt: Any, device: str,
               options: dict[str, Any] | None = None) -> Any:
        mod = family_module(info.family)
        try:
            backend = mod.load(ckpt, device, **(options or {}))
        except CheckpointError:
            raise
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{info.path}: weights do not match the card: {first_line(exc)}") from None
        backend.info = info
        return backend


def _claimants(path: Path) -> list[Any]:
    """The family modules whose ``sniff`` hook claims ``path``, in FAMILIES order."""
    out = []
    for family in FAMILIES:
        mod = family_module(family)
        sniff = getattr(mod, "sniff", None)
        if sniff is not None and sniff(path):
            out.append(mod)
    return out


def _read_any(path: Path, config: str | None = None, family: str | None = None) -> Any:
    """Our checkpoints, or a foreign one that a family's ``sniff`` hook claims (``family``:
    the one it was registered with; ``config`` goes to the families that take one)."""
    mods = _claimants(path)
    if family is not None:
        mods = [m for m in mods if m is family_module(family)]
    if not mods:
        return load_checkpoint(path)
    mod = mods[0]
    return mod.read_checkpoint(path, config) if config else mod.read_checkpoint(path)


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of shipped models."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
