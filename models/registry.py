"""One registry through which built-in models and user checkpoints load the same way.

A family module (e.g. ``models.image.vae``) provides::

    describe(card) -> dict      # capabilities, image_shape, latent_size, description
    load(checkpoint, device) -> backend   # the backend has an ``info`` attribute set by us
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from models import device as devices
from models.checkpoints import CheckpointError, first_line, load_checkpoint, read_card
from models.protocol import BackendInfo, Capability

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "resources" / "weights"

FAMILIES: dict[str, str] = {
    "vae": "models.image.vae",
    "classifier": "models.image.classifier",
    "vocos": "models.audio.vocos",
    "hifigan": "models.audio.hifigan",
    "griffinlim": "models.audio.griffinlim",
}

# Built-ins that need no weights: name -> card (family + config).
WEIGHTLESS: dict[str, dict[str, Any]] = {
    "griffinlim": {"family": "griffinlim", "config": {}},
}


def family_module(family: str) -> Any:
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
    return BackendInfo(
        name=path.stem if source == "builtin" else f"{path.stem} ({path.parent.name})",
        family=str(card["family"]),
        capabilities=d["capabilities"],
        source=source,
        path=str(path),
        image_shape=tuple(d.get("image_shape", ())),
        latent_size=int(d.get("latent_size", 0)),
        description=str(d.get("description", card.get("description", ""))),
        metrics=metrics,
        mel=d.get("mel"),
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
        self._lock = threading.Lock()
        self.problems: list[str] = []
        if weights_dir is not None and Path(weights_dir).is_dir():
            for path in sorted(Path(weights_dir).glob("*.safetensors")):
                try:
                    self._add(describe(path, read_card(path), "builtin"))
                except CheckpointError as exc:
                    self.problems.append(str(exc))
        for name, card in WEIGHTLESS.items():
            self._add(replace(describe(Path(name), card, "builtin"), path=""))

    def _add(self, info: BackendInfo) -> BackendInfo:
        name, n = info.name, 2
        while name in self._infos and self._infos[name].path != info.path:
            name, n = f"{info.name} #{n}", n + 1
        info = replace(info, name=name)
        self._infos[name] = info
        return info

    def add_checkpoint(self, path: str | Path) -> BackendInfo:
        """Register a user checkpoint; it is loaded once to check it really builds."""
        path = Path(path).expanduser().resolve()
        ckpt = _read_any(path)
        info = describe(path, ckpt.card, "checkpoint")
        backend = self._build(info, ckpt, "cpu")
        info = self._add(info)
        backend.info = info
        with self._lock:
            self._loaded[(info.name, "cpu")] = backend
        return info

    def infos(self, capability: Capability = Capability.NONE) -> list[BackendInfo]:
        """Backends having every flag in ``capability``, built-ins first."""
        out = [i for i in self._infos.values() if capability in i.capabilities]
        return sorted(out, key=lambda i: (i.source != "builtin", i.name))

    def info(self, name: str) -> BackendInfo:
        if name not in self._infos:
            raise KeyError(f"no model named '{name}' (see 'latent-studio models list')")
        return self._infos[name]

    def get(self, name: str, device: str | None = None) -> Any:
        """The backend ``name`` on ``device`` (default: the current device), loading it once."""
        info = self.info(name)
        dev = device or devices.current_device()
        with self._lock:
            key = (name, dev)
            if key not in self._loaded:
                ckpt = _read_any(Path(info.path)) if info.path else None
                self._loaded[key] = self._build(info, ckpt, dev)
            return self._loaded[key]

    @staticmethod
    def _build(info: BackendInfo, ckpt: Any, device: str) -> Any:
        mod = family_module(info.family)
        try:
            backend = mod.load(ckpt, device)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{info.path}: weights do not match the card: {first_line(exc)}") from None
        backend.info = info
        return backend


def _read_any(path: Path) -> Any:
    """Our checkpoints, or a jik876 HiFi-GAN generator (config.json beside it)."""
    from models.audio import hifigan

    if hifigan.sniff(path):
        return hifigan.read_checkpoint(path)
    return load_checkpoint(path)


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of shipped models."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
