"""Checkpoint files: safetensors weights with a JSON card beside them, or a weights-only .pt.

A checkpoint holds its whole config, so the architecture is rebuilt from the file and never
from constants in code. The card (``NAME.json`` beside ``NAME.safetensors``) holds::

    {"family": "vae", "config": {...}, "data": {...}, "training": {...}, "metrics": {...}}

``.pt`` files are read with ``torch.load(weights_only=True)``: no pickled code ever runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

C = TypeVar("C")


class CheckpointError(ValueError):
    """A file that is not a valid checkpoint; the message names the file and what is wrong."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name if it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file; a broken one is a CheckpointError naming ``what`` it should be."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON {what} ({exc})") from None


def _names(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_state(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` into ``net`` in float32 (integer buffers kept), or raise a ValueError
    that names the first few missing, unexpected and misshapen keys."""
    want = net.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [f"{k} {tuple(state[k].shape)} (needs {tuple(want[k].shape)})" for k in want
              if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    problems = [f"{what} {_names(keys)}" for what, keys in
                (("missing keys:", missing), ("unexpected keys:", unexpected),
                 ("wrong shapes:", shapes)) if keys]
    if problems:
        raise ValueError("; ".join(problems))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in state.items()})


@dataclass
class Checkpoint:
    """Weights and card of one model."""

    path: Path
    state: dict[str, torch.Tensor]
    card: dict[str, Any]

    @property
    def family(self) -> str:
        return str(self.card["family"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.card.get("config", {}))


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def read_card(path: str | Path) -> dict[str, Any]:
    """Read and check the JSON card of a weights file (``family`` and ``config`` required)."""
    path = Path(path)
    cpath = card_path(path)
    if not cpath.is_file():
        raise CheckpointError(f"{path}: no model card {cpath.name} beside it (family and config)")
    return _check_card(read_json(cpath, "model card"), cpath)


def _check_card(card: Any, where: Path) -> dict[str, Any]:
    if not isinstance(card, dict):
        raise CheckpointError(f"{where}: the model card must be a JSON object")
    missing = [k for k in ("family", "config") if k not in card]
    if missing:
        raise CheckpointError(f"{where}: the model card lacks {', '.join(missing)}")
    if not isinstance(card["config"], dict):
        raise CheckpointError(f"{where}: 'config' in the model card must be an object")
    return card


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load weights and card, on the CPU.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, of an unknown type, or lacks its card.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        card = read_card(path)
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None
    elif suffix in (".pt", ".pth", ".ckpt"):
        blob = torch_load_weights(path)
        if isinstance(blob, dict) and "state_dict" in blob and "card" in blob:
            state, card = blob["state_dict"], _check_card(blob["card"], path)
        elif isinstance(blob, dict) and all(isinstance(v, torch.Tensor) for v in blob.values()):
            state, card = blob, read_card(path)
        else:
            raise CheckpointError(
                f"{path}: expected a state dict of tensors or {{'state_dict', 'card'}}"
            )
    else:
        raise CheckpointError(
            f"{path}: unknown checkpoint type '{suffix}' (.safetensors or .pt with a card, "
            "or a HiFi-GAN generator with its config.json beside it)")
    return Checkpoint(path=path, state=dict(state), card=card)


def pickle_globals(data: bytes) -> list[str]:
    """The globals (module.name) a pickle stream asks for, read by pickletools without
    unpickling anything."""
    import pickletools

    found, strings = [], []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except ValueError:                     # a truncated stream: what was read so far
        pass
    return list(dict.fromkeys(found))


def torch_load_weights(path: Path, allowed: list[Any] | tuple = (), mmap: bool = False
                       ) -> Any:
    """``torch.load(path, weights_only=True)`` with our own words for what goes wrong: not a
    PyTorch file at all, a file that asks to run code (named), or a damaged one. No advice
    to load unsafely is ever passed on. ``allowed``: inert stand-ins a caller has checked
    (``torch.serialization.safe_globals``); ``mmap`` maps a zip file's tensors lazily."""
    import pickle
    import warnings
    import zipfile

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror})") from None
    if not head:
        raise CheckpointError(f"{path}: the file is empty (0 bytes)")
    if not (head[:2] == b"PK" or zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither PyTorch's zip "
                              "format nor a pickle)")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(list(allowed)):
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True,
                              mmap=mmap and head[:2] == b"PK")
    except pickle.UnpicklingError:
        try:
            asked = (torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
                     if head[:2] == b"PK" else pickle_globals(path.read_bytes()))
        except Exception:  # noqa: BLE001  # a damaged file raises many types
            asked = []
        what = f" {', '.join(asked[:3])}" if asked else " objects beyond tensors"
        raise CheckpointError(f"{path}: refused: the file asks to run{what}; only "
                              "tensors are read from PyTorch files (it may run code)") from None
    except Exception as exc:  # noqa: BLE001  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: a damaged or truncated PyTorch file "
                              f"({type(exc).__name__})") from None


def save_checkpoint(
    path: str | Path, state: dict[str, torch.Tensor], card: dict[str, Any], half: bool = False
) -> Path:
    """Write ``path`` (.safetensors) and its JSON card; ``half`` stores floats as float16."""
    path = Path(path)
    _check_card(card, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v
    from models.files import write_whole, write_with

    # Each file whole or not at all (a temporary name renamed): a full disk or a kill
    # never leaves half a weights file under a name the studio would load.
    write_with(path, lambda tmp: save_file(tensors, str(tmp),
                                           metadata={"family": str(card["family"])}))
    write_whole(card_path(path), (json.dumps(card, indent=2, sort_keys=False) + "\n").encode())
    return path


def config_from_card(cls: type[C], card: dict[str, Any]) -> C:
    """Rebuild an architecture config dataclass from a card; unknown keys are an error."""
    cfg = card["config"]
    known = {f.name for f in fields(cls)}
    unknown = set(cfg) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}")
    return cls(**cfg)
