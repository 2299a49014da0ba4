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

    def to_json(self, sidecar: Path | None = None, big_inline: bool = False
                ) -> dict[str, Any]:
        """The recipe as JSON values. Arrays over INLINE_MAX values go to ``sidecar`` (a
        ``.npz``, written here; RecipeError when there is none to write them to), or stay
        inline with ``big_inline`` (the history's rows)."""
        arrays: dict[str, Any] = {}
        big = {} if big_inline else {k: v for k, v in self.arrays.items()
                                     if v.size > INLINE_MAX}
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

    def files(self) -> list[FileRef]:
        """The model's weights (role "model"), a second model's (a param holding a path and
        a fingerprint: the vocoder of an attribute edit, role its name) and every input."""
        out = []
        if self.model.get("fingerprint"):
            out.append(FileRef("model", self.model.get("path", ""), self.model["fingerprint"]))
        out += [FileRef(k, str(v["path"]), str(v["fingerprint"]))
                for k, v in self.params.items()
                if isinstance(v, dict) and v.get("path") and v.get("fingerprint")]
        return out + list(self.inputs)

    def file_problems(self) -> list[tuple[FileRef, str]]:
        """(file, what is wrong) for each file not as it was when the recipe was made."""
        return [(f, why) for f in self.files() if (why := f.problem())]

    def problems(self) -> list[str]:
        """What is not as it was when the recipe was made: the model's weights and every
        input file (missing, or another content); empty when all is there."""
        return [why for _, why in self.file_problems()]

    def relocated(self, ref: FileRef, path: str | Path) -> Recipe:
        """The recipe with one of its files found elsewhere (the user located it)."""
        import copy

        r = copy.deepcopy(self)
        if ref.role == "model":
            r.model["path"] = str(path)
        elif isinstance(r.params.get(ref.role), dict):
            r.params[ref.role]["path"] = str(path)
        r.inputs = [FileRef(f.role, str(path), f.fingerprint) if f == ref else f
                    for f in r.inputs]
        return r


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


# -- in the outputs ---------------------------------------------------------------------------

PICTURE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")
AUDIO_SUFFIXES = (".wav", ".flac")


def sidecar_for(out: str | Path) -> Path:
    """Where the arrays too big to keep inline go: ``NAME.EXT.recipe.npz`` beside the
    output."""
    out = Path(out)
    return out.with_name(f"{out.name}.recipe.npz")


def recipe_text(recipe: Recipe | None, out: str | Path) -> str | None:
    """The recipe as the text written into ``out`` (its big arrays into the sidecar)."""
    if recipe is None:
        return None
    big = any(v.size > INLINE_MAX for v in recipe.arrays.values())
    return recipe.to_text(sidecar_for(out) if big else None)


def picture_options(path: str | Path, text: str | None,
                    meta: dict[str, str] | None = None) -> dict[str, Any]:
    """Pillow save options that carry ``text`` (a recipe) and ``meta``: PNG text chunks, a
    GIF or JPEG comment. Other picture types carry none."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for k, v in (meta or {}).items():
            info.add_text(k, str(v))
        if text is not None:
            info.add_text(PNG_KEY, text)
        return {"pnginfo": info}
    if text is not None and suffix in (".gif", ".jpg", ".jpeg"):
        return {"comment": text.encode("utf-8")}
    return {}


def wav_with_comment(data: bytes, text: str) -> bytes:
    """A RIFF/WAVE file with a LIST/INFO chunk whose comment (ICMT) is ``text``: the field
    other audio tools show as the comment (libsndfile writes only short ones)."""
    body = text.encode("utf-8") + b"\0"
    if len(body) % 2:
        body += b"\0"
    sub = b"ICMT" + len(body).to_bytes(4, "little") + body
    chunk = b"LIST" + (4 + len(sub)).to_bytes(4, "little") + b"INFO" + sub
    out = bytearray(data + chunk)
    out[4:8] = (len(out) - 8).to_bytes(4, "little")
    return bytes(out)


def wav_comment(path: Path) -> str | None:
    """The INFO comment of a RIFF/WAVE file, None when it has none: the chunks' headers are
    read and the audio skipped, so a long recording costs nothing."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while len(header := f.read(8)) == 8:
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind == b"LIST" and size >= 4 and size < 1 << 24:
                body = f.read(size + (size % 2))
                if body[:4] == b"INFO":
                    sub = 4
                    while sub + 8 <= len(body):
                        skind = body[sub:sub + 4]
                        ssize = int.from_bytes(body[sub + 4:sub + 8], "little")
                        if skind == b"ICMT":
                            return body[sub + 8:sub + 8 + ssize].rstrip(b"\0").decode(
                                "utf-8", "replace")
                        sub += 8 + ssize + (ssize % 2)
                continue
            f.seek(size + (size % 2), 1)
    return None


def embedded_text(path: Path, quick: bool = False) -> str | None:
    """The recipe text written into an output file, None when it carries none; RecipeError
    for a file the studio does not read. ``quick``: only what comes before a picture's
    pixels (where the studio and other tools write it), without decoding the picture: the
    check a drop makes on the UI thread."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".wav":
            return wav_comment(path)
        if suffix == ".flac":
            import soundfile as sf

            with sf.SoundFile(path) as f:
                return f.comment or None
    except (OSError, RuntimeError, ValueError) as exc:
        raise RecipeError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            text = img.info.get(PNG_KEY)
            if text is None and not quick:          # text chunks after the pixels too
                text = dict(getattr(img, "text", {}) or {}).get(PNG_KEY)
            comment = img.info.get("comment")
    except (OSError, UnidentifiedImageError):
        raise RecipeError(f"{path}: neither a recipe (.json) nor an output the studio "
                          "reads (pictures, .wav, .flac)") from None
    if text is None and comment:
        text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else comment
        if f'"format":"{FORMAT}"' not in text:
            text = None                       # a comment of another tool's
    return text


def read_recipe(path: str | Path) -> Recipe:
    """The recipe of an output (a PNG's text chunk, a GIF's or JPEG's comment, a WAV's or
    FLAC's comment) or a recipe file (JSON)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RecipeError(f"{path}: not a readable recipe ({exc})") from None
        return Recipe.from_json(doc, str(path), path.parent)
    text = embedded_text(path)
    if text is None:
        raise RecipeError(f"{path}: carries no Latent Studio recipe (made by another tool, "
                          "or before recipes were written)")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RecipeError(f"{path}: its recipe is damaged ({exc})") from None
    return Recipe.from_json(doc, str(path), path.parent)
