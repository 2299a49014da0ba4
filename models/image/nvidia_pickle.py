"""NVIDIA's network pickles (StyleGAN2-ADA / StyleGAN3 ``.pkl``) read as data, never as code.

An official pickle stores each network's Python module source and, on load, ``exec()``s it
(``torch_utils.persistence``): opening a stranger's pickle with the official loader runs
their code. Here a ``pickle.Unpickler`` whose ``find_class`` allows a short list of data
types (tensors through torch's own rebuild functions, storages read with
``torch.load(weights_only=True)``, ordered dicts, numpy scalars and arrays, sets) maps the
persistence reconstructor to :class:`Persistent`, which keeps the class name, the init
arguments and the state (parameters, buffers, sub-networks) as plain data. The module source
is never executed or imported. Anything else the pickle asks for is refused, naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import CheckpointError, first_line


class Persistent:
    """One network object of the pickle, as data."""

    def __init__(self, meta: Any) -> None:
        meta = dict(meta) if isinstance(meta, dict) else {}
        self.class_name = str(meta.get("class_name", ""))
        self.version = meta.get("version")
        self.source_chars = len(str(meta.get("module_src", "")))    # kept only as a count
        state = meta.get("state")
        self.state: dict[str, Any] = dict(state) if isinstance(state, dict) else {}

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return _plain(self.state.get("_init_kwargs") or {})

    @property
    def modules(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, Any]:
        """Every parameter and buffer below this object, by dotted name."""
        import torch

        out: dict[str, Any] = {}
        for group in ("_parameters", "_buffers"):
            for k, v in (self.state.get(group) or {}).items():
                if isinstance(v, torch.Tensor):
                    out[prefix + k] = v.detach()
        for k, m in self.modules.items():
            if isinstance(m, Persistent):
                out.update(m.tensors(f"{prefix}{k}."))
        return out


class EasyDict(dict):
    """dnnlib's attribute dictionary, as a plain dict."""


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _storage_from_bytes(b: bytes) -> Any:
    """A storage pickled inside the pickle (torch.save bytes): read weights-only."""
    import torch

    return torch.load(io.BytesIO(b), weights_only=True)


def _allowed() -> dict[tuple[str, str], Any]:
    import torch

    core = getattr(np, "_core", None) or np.core
    allowed: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): Persistent,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        ("torch", "Size"): torch.Size,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "scalar")] = core.multiarray.scalar
        allowed[(mod, "_reconstruct")] = core.multiarray._reconstruct
    return allowed


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, f: Any, path: Path) -> None:
        super().__init__(f)
        self.path = path
        self.allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                f"{self.path}: a legacy TensorFlow StyleGAN pickle; convert it first with "
                "NVIDIA's stylegan2-ada-pytorch: python legacy.py --source=IN.pkl "
                "--dest=OUT.pkl (in a separate environment), then open OUT.pkl")
        raise CheckpointError(
            f"{self.path}: refused: the pickle asks for {module}.{name}, which is not network "
            "data (opening it could run code); only NVIDIA's network pickles of tensors are "
            "read")

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"{self.path}: refused: a persistent reference ({pid!r:.40}) "
                              "that NVIDIA's network pickles never hold")


def read_pickle(path: Path) -> Any:
    """The top-level object of an NVIDIA pickle, networks as :class:`Persistent`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _DataUnpickler(f, path).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, RuntimeError, OSError, UnicodeDecodeError,
            MemoryError) as exc:
        raise CheckpointError(f"{path}: not a readable network pickle (damaged or not a "
                              f"pickle: {first_line(exc)})") from None


def looks_like_pickle(path: Path) -> bool:
    """A ``.pkl`` whose first byte is a pickle protocol marker."""
    path = Path(path)
    if path.suffix.lower() != ".pkl" or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"\x80"
    except OSError:
        return False
