"""Recipes: everything needed to make an output again, as one small versioned structure.

A recipe names the task (a function of ``models/tasks``), the model (family, name, and the
fingerprint of its weight files: :func:`models.files.fingerprint`), every parameter as the job
saw it (defaults resolved, seeds included), the input files (path and fingerprint), arrays the
job took as input (latents, W vectors: small ones inline, bigger ones in a ``.npz`` beside the
output), and the versions and device it ran with. It is plain JSON, written into the outputs
(a PNG text chunk, a JSON file) and read back from them.

This module is the data structure and its checks, Qt-free. Running a recipe again (replay,
sweeps, the history) builds on it.
"""

from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "latent-studio-recipe"
VERSION = 1
PNG_KEY = "latent-studio-recipe"    # the PNG text chunk a recipe is written to
INLINE_MAX = 4096                   # arrays up to this many values are kept in the JSON


class RecipeError(ValueError):
    """A recipe that cannot be read, or that does not fit what is here; the message names
    the file and what is wrong."""


@dataclass(frozen=True)
class FileRef:
    """A file a job used: its role ("model", "picture", "mask", ...), path and fingerprint."""

    role: str
    path: str
    fingerprint: str

    @classmethod
    def of(cls, role: str, path: str | Path) -> FileRef:
        from models.files import fingerprint

        p = Path(path).expanduser().resolve()
        return cls(role, str(p), fingerprint(p))

    def problem(self) -> str:
        """"" when the file is there with the same content, else what is wrong."""
        from models.files import fingerprint

        p = Path(self.path)
        if not p.exists():
            return f"{self.role} {self.path}: missing"
        if fingerprint(p) != self.fingerprint:
            return f"{self.role} {self.path}: its content has changed since the recipe was made"
        return ""


@dataclass
class Recipe:
    """One job, as it ran. ``arrays`` hold its array inputs by name."""

    task: str
    params: dict[str, Any] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)     # family, name, path, fingerprint
    inputs: list[FileRef] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    made_with: dict[str, str] = field(default_factory=dict)  # studio, torch, device

    # -- making one ------------------------------------------------------------------------

    @classmethod
    def of(cls, task: str, params: dict[str, Any], *, model_info: Any = None,
           inputs: dict[str, str | Path] | None = None,
           arrays: dict[str, np.ndarray] | None = None, device: str = "cpu") -> Recipe:
        """A recipe of a job about to run: ``model_info`` a BackendInfo (its weights are
        fingerprinted when it has a file), ``inputs`` role -> file."""
        import torch

        from models import __version__
        from models.files import fingerprint

        model: dict[str, str] = {}
        if model_info is not None:
            model = {"family": str(model_info.family), "name": str(model_info.name),
                     "path": str(model_info.path or "")}
            if model_info.path and Path(model_info.path).exists():
                model["fingerprint"] = fingerprint(model_info.path)
        return cls(task=task, params=_plain(params), model=model,
                   inputs=[FileRef.of(role, p) for role, p in (inputs or {}).items()],
                   arrays={k: np.asarray(v) for k, v in (arrays or {}).items()},
                   made_with={"studio": __version__, "torch": torch.__version__,
                              "device": device})

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self, sidecar: Path | None = None) -> dict[str, Any]:
        """The recipe as JSON values. Arrays over INLINE_MAX values go to ``sidecar`` (a
        ``.npz``, written here; RecipeError when there is none to write them to)."""
        arrays: dict[str, Any] = {}
        big = {k: v for k, v in self.arrays.items() if v.size > INLINE_MAX}
        for k, v in self.arrays.items():
            if k not in big:
                arrays[k] = {"dtype": str(v.dtype), "shape": list(v.shape),
                             "data": base64.b64encode(np.ascontiguousarray(v).tobytes()
                                                      ).decode("ascii")}
        if big:
            if sidecar is None:
                raise RecipeError(f"arrays {', '.join(big)} are too big to keep inline: give "
                                  "a .npz to write them to")
            from models.files import write_with

            def write(tmp: Path) -> None:
                with tmp.open("wb") as f:
                    np.savez(f, **big)

            write_with(sidecar, write)
            for k in big:
                arrays[k] = {"npz": sidecar.name, "key": k}
        return {"format": FORMAT, "version": VERSION, "task": self.task,
                "model": dict(self.model), "params": self.params,
                "inputs": [{"role": f.role, "path": f.path, "fingerprint": f.fingerprint}
                           for f in self.inputs],
                "arrays": arrays, "made_with": dict(self.made_with)}

    def to_text(self, sidecar: Path | None = None) -> str:
        return json.dumps(self.to_json(sidecar), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, doc: Any, where: str = "recipe", folder: Path | None = None) -> Recipe:
        """Read what :meth:`to_json` wrote. A recipe of a newer version is read as far as
        it goes, with a warning; anything else that does not fit is a RecipeError naming
        ``where``. ``folder``: where a sidecar ``.npz`` is looked for."""
        if not isinstance(doc, dict):
            raise RecipeError(f"{where}: a recipe is a JSON object, not a {type(doc).__name__}")
        if doc.get("format") != FORMAT:
            raise RecipeError(f"{where}: not a Latent Studio recipe")
        version = doc.get("version")
        if not isinstance(version, int):
            raise RecipeError(f"{where}: the recipe has no version number")
        if version > VERSION:
            warnings.warn(f"{where}: a recipe of a newer Latent Studio (version {version}, "
                          f"this one reads {VERSION}): read as far as it goes", stacklevel=2)
        task = doc.get("task")
        if not isinstance(task, str) or not task:
            raise RecipeError(f"{where}: the recipe names no task")
        params, model = doc.get("params", {}), doc.get("model", {})
        if not isinstance(params, dict) or not isinstance(model, dict):
            raise RecipeError(f"{where}: 'params' and 'model' must be JSON objects")
        try:
            inputs = [FileRef(str(f["role"]), str(f["path"]), str(f["fingerprint"]))
                      for f in doc.get("inputs", [])]
        except (KeyError, TypeError):
            raise RecipeError(f"{where}: an input lacks its role, path or fingerprint") from None
        arrays = {}
        for k, a in dict(doc.get("arrays", {})).items():
            arrays[k] = _array(a, k, where, folder)
        return cls(task=task, params=params, model={str(k): str(v) for k, v in model.items()},
                   inputs=inputs, arrays=arrays,
                   made_with={str(k): str(v) for k, v in dict(doc.get("made_with", {})).items()})

    # -- checks ------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What is not as it was when the recipe was made: the model's weights and every
        input file (missing, or another content); empty when all is there."""
        out = []
        if self.model.get("fingerprint"):
            out.append(FileRef("model", self.model.get("path", ""),
                               self.model["fingerprint"]).problem())
        out += [f.problem() for f in self.inputs]
        return [p for p in out if p]


def _plain(value: Any) -> Any:
    """JSON values of a parameter dict (numpy scalars and tuples made plain)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _array(a: Any, name: str, where: str, folder: Path | None) -> np.ndarray:
    try:
        if "npz" in a:
            npz = (folder or Path(".")) / str(a["npz"])
            if not npz.is_file():
                raise RecipeError(f"{where}: array '{name}' is kept in {npz}, which is missing")
            with np.load(npz, allow_pickle=False) as z:
                return np.array(z[str(a["key"])])
        raw = base64.b64decode(str(a["data"]), validate=True)
        return np.frombuffer(raw, dtype=np.dtype(str(a["dtype"]))).reshape(
            [int(s) for s in a["shape"]]).copy()
    except RecipeError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RecipeError(f"{where}: array '{name}' cannot be read ({exc})") from None


def read_recipe(path: str | Path) -> Recipe:
    """The recipe of an output (a PNG's text chunk) or a recipe file (JSON)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RecipeError(f"{path}: not a readable recipe ({exc})") from None
        return Recipe.from_json(doc, str(path), path.parent)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            text = dict(getattr(img, "text", {}) or {}).get(PNG_KEY)
    except (OSError, UnidentifiedImageError):
        raise RecipeError(f"{path}: neither a recipe (.json) nor a picture the studio "
                          "reads") from None
    if text is None:
        raise RecipeError(f"{path}: carries no Latent Studio recipe (made by another tool, "
                          "or before recipes were written)")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RecipeError(f"{path}: its recipe is damaged ({exc})") from None
    return Recipe.from_json(doc, str(path), path.parent)
