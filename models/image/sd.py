"""Stable Diffusion checkpoints artists already have, opened offline and run by diffusers.

Accepted (File > Open Checkpoint, ``--model PATH``):

* a diffusers pipeline folder (``model_index.json``; SD 1.x, 2.x incl. v-prediction, SDXL,
  text-to-image and 9-channel inpainting models), or any file in it;
* a single ``.safetensors`` in the original (CompVis / SGM) layout;
* a ``.ckpt`` (a PyTorch zip): read with ``torch.load(weights_only=True)``; the objects a
  training framework (PyTorch Lightning) leaves in it become inert placeholders, and a pickle
  that asks for anything else is refused, naming what it asked for.

A single file carries weights only: the configs of its base model ship in
``resources/sd-configs/`` (chosen from the file's keys and shapes, or named by the user), and
CLIP's tokenizer is built from the BPE vocabulary that ``open-clip-torch`` ships. Nothing is
ever fetched from the hub. The U-Net, VAE, CLIP and schedulers are diffusers' and
transformers' own; this module only opens files and drives the pipelines (step callbacks for
progress, previews and cancel; a CPU generator per seed; LoRA through peft).
"""

from __future__ import annotations

import gzip
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import (
    Checkpoint,
    CheckpointError,
    first_line,
    read_json,
    torch_load_weights,
)
from models.protocol import Capability, GenerateRequest, JobContext

FAMILY = "stable-diffusion"
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "resources" / "sd-configs"
BASES = ("sd15", "sd15-inpaint", "sd2-base", "sd2-v", "sd2-inpaint", "sdxl", "sdxl-inpaint")
UNET_PREFIX = "model.diffusion_model."
# Heavy: registering one reads its header; the weights load in a job when first used.
LAZY = True

# Scheduler names -> (diffusers class, settings over the model's own config).
SCHEDULERS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "default": None,
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
    "dpm++2m-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "lcm": ("LCMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}

# A latent's colours without the VAE: least-squares maps from the 4 latent channels to RGB
# in [-1, 1], the widely used approximations (SD 1/2 and SDXL latents differ).
LATENT_RGB = {
    "sd": np.array([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173],
                    [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]], np.float32),
    "sdxl": np.array([[0.3448, 0.4168, 0.4395], [-0.1953, -0.0290, 0.0250],
                      [0.1074, 0.0886, -0.0163], [-0.3730, -0.2499, -0.2088]], np.float32),
}

# Training frameworks whose objects (callbacks, loop state) ride along in a .ckpt: they are
# read as inert placeholders. numpy scalars and dtypes are plain data.
FRAMEWORK_MODULES = ("pytorch_lightning.", "lightning.", "lightning_fabric.")
NUMPY_DATA = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
              "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
              "numpy.ndarray")


# -- the CLIP tokenizer of a single file -----------------------------------------------------

def _byte_alphabet() -> dict[int, str]:
    """GPT-2 / CLIP byte-level BPE's reversible map from bytes to printable characters:
    printable Latin-1 bytes stand for themselves (and come first, in the vocabulary's
    order), the rest take code points from 256 up."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    rest = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(rest)}}


@lru_cache(maxsize=1)
def _clip_bpe() -> tuple[dict[str, int], tuple[str, ...]]:
    """CLIP's vocabulary and merges, from the BPE file open-clip-torch ships."""
    try:
        from importlib.resources import files

        blob = (files("open_clip") / "bpe_simple_vocab_16e6.txt.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise CheckpointError("the CLIP tokenizer of a single-file checkpoint is built from "
                              "open-clip-torch's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz), "
                              "and open-clip-torch is not installed (pip install "
                              "open-clip-torch)") from None
    lines = gzip.decompress(blob).decode("utf-8").split("\n")
    # CLIP uses the first 48,894 merges: 49,408 tokens = 256 bytes x 2 + merges + 2 specials.
    merges = tuple(lines[1:49152 - 256 - 2 + 1])
    symbols = list(_byte_alphabet().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [m.replace(" ", "") for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """CLIP's tokenizer (SD 1.x pads with end-of-text, OpenCLIP's SD 2 / SDXL with "!")."""
    from transformers import CLIPTokenizer

    vocab, merges = _clip_bpe()
    return CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m.split()) for m in merges],
                         pad_token=pad_token, model_max_length=77)


def folder_tokenizer(folder: Path, name: str) -> Any | None:
    """The tokenizer a config folder ships itself (vocab.json + merges.txt, or
    tokenizer.json), or None: then CLIP's is built from open-clip-torch's vocabulary."""
    sub = Path(folder) / name
    if not ((sub / "vocab.json").is_file() or (sub / "tokenizer.json").is_file()):
        return None
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(str(sub), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{sub}: the tokenizer there is not readable "
                              f"({first_line(exc)})") from None


# -- what a path is --------------------------------------------------------------------------

def pipeline_folder(path: Path) -> Path | None:
    """The diffusers pipeline folder ``path`` is or lies in (one level down), or None."""
    path = Path(path)
    if path.is_dir() and _own_class(path) == "AutoencoderKL":
        return None             # a pipeline's VAE folder opened by itself is that VAE
    for cand in ([path] if path.is_dir() else []) + [path.parent, path.parent.parent]:
        index = cand / "model_index.json"
        if index.is_file():
            try:
                name = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
            return cand if str(name).startswith("StableDiffusion") else None
    return None


def _own_class(folder: Path) -> str:
    """The ``_class_name`` of a folder's own config.json ("" when none)."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""
    return str(cfg.get("_class_name", "")) if isinstance(cfg, dict) else ""


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor names and shapes from a safetensors header (no weights read), or None."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n < 100 * 2**20:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    return {k: tuple(v.get("shape", ())) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict)}


def _ckpt_pickle(path: Path) -> bytes | None:
    """The pickle stream of a PyTorch zip checkpoint, or None."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            return z.read(name) if name is not None else None
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def file_kind(path: Path) -> str:
    """'folder', 'single' (original-layout safetensors), 'ckpt', or '' (not ours)."""
    path = Path(path)
    if pipeline_folder(path) is not None:
        return "folder"
    if not path.is_file():
        return ""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        shapes = _safetensors_shapes(path)
        if shapes and any(k.startswith(UNET_PREFIX) for k in shapes):
            return "single"
    elif suffix in (".ckpt", ".pt", ".pth"):
        pkl = _ckpt_pickle(path)
        if pkl is not None and UNET_PREFIX.encode() in pkl:
            return "ckpt"
    return ""


def sniff(path: Path) -> bool:
    return file_kind(path) != ""


def detect_base(shapes: dict[str, tuple[int, ...]]) -> str:
    """The shipped base config whose architecture an original-layout file's keys and shapes
    show (SD 2's 768 v-prediction for a 2.x file: the commonest; name another with
    ``--config``)."""
    conv_in = shapes.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is None or len(conv_in) != 4:
        raise CheckpointError("no U-Net input convolution (model.diffusion_model.input_blocks."
                              "0.0.weight): not a Stable Diffusion checkpoint")
    inpaint = "-inpaint" if conv_in[1] == 9 else ""
    if any(k.startswith("conditioner.embedders.1.") for k in shapes):
        return "sdxl" + inpaint
    context = next((s[1] for k, s in shapes.items() if k.startswith(UNET_PREFIX)
                    and k.endswith("attn2.to_k.weight") and len(s) == 2), None)
    if context == 768:
        return "sd15" + inpaint
    if context == 1024:
        return "sd2-inpaint" if inpaint else "sd2-v"
    raise CheckpointError(f"a U-Net with {conv_in[1]} input channels and a text context of "
                          f"{context} is not one of the shipped bases ({', '.join(BASES)}); "
                          "give the diffusers folder of its base with --config")


# -- .ckpt: torch.load(weights_only=True) with a framework's objects as placeholders ---------

def _placeholder(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")

    class Placeholder:
        """What a training framework pickled: kept as data, never run."""

        def __setstate__(self, state: Any) -> None:
            self.state = state

    Placeholder.__module__, Placeholder.__qualname__, Placeholder.__name__ = module, name, name
    return Placeholder


def ckpt_allowances(path: Path) -> list[Any]:
    """What ``torch.load(path, weights_only=True)`` must be allowed for an SD ``.ckpt``:
    placeholders for training-framework classes and numpy's data types. Anything else the
    pickle asks for (a function, a module's code) is refused with a CheckpointError."""
    import torch

    try:
        wanted = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001  # a damaged zip raises many types
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint "
                              f"({first_line(exc)})") from None
    refused = [g for g in wanted if not g.startswith(FRAMEWORK_MODULES) and g not in NUMPY_DATA]
    if refused:
        raise CheckpointError(
            f"{path}: refused: the file asks to run {', '.join(refused[:3])}, which a "
            "checkpoint of weights never needs (it may run code); only tensors, PyTorch "
            "Lightning's objects and numpy data are read")
    allowed: list[Any] = []
    for g in wanted:
        if g.startswith(FRAMEWORK_MODULES):
            allowed.append(_placeholder(g))
        else:
            import numpy

            if g in ("numpy.dtype", "numpy.ndarray"):
                obj: Any = getattr(numpy, g.rsplit(".", 1)[1])
            else:
                core = getattr(numpy, "_core", None) or numpy.core
                obj = getattr(core.multiarray, g.rsplit(".", 1)[1])
            allowed.append((obj, g))
    return allowed


# -- the card --------------------------------------------------------------------------------

def base_folder(config: str | Path | None, detected: str) -> Path:
    """The diffusers folder whose configs a single file takes: ``config`` (a folder or a
    shipped base's name) or the detected base's."""
    if config:
        if str(config) in BASES:
            return CONFIGS_DIR / str(config)
        folder = Path(config).expanduser()
        if not (folder / "model_index.json").is_file():
            raise CheckpointError(f"{folder}: --config takes a diffusers folder (with "
                                  f"model_index.json) or one of {', '.join(BASES)}")
        return folder
    return CONFIGS_DIR / detected


def _folder_card(folder: Path) -> dict[str, Any]:
    index = read_json(folder / "model_index.json", "pipeline index")
    unet = read_json(folder / "unet" / "config.json", "U-Net config")
    vae = read_json(folder / "vae" / "config.json", "VAE config")
    sched_file = folder / "scheduler" / "scheduler_config.json"
    sched = read_json(sched_file, "scheduler config") if sched_file.is_file() else {}
    scale = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
    size = unet.get("sample_size", 64)
    size = int(size if isinstance(size, int) else size[0]) * scale
    pipeline = str(index.get("_class_name", "StableDiffusionPipeline"))
    xl = "XL" in pipeline
    return {"pipeline": pipeline, "xl": xl, "inpainting": int(unet.get("in_channels", 4)) == 9,
            "native": size, "scale": scale,
            "prediction": str(sched.get("prediction_type", "epsilon")),
            "scheduler": str(sched.get("_class_name", "")),
            "tokenizer_pads": _pads(folder, xl)}


def _pads(folder: Path, xl: bool) -> list[str]:
    pads = []
    for name in ("tokenizer", "tokenizer_2") if xl else ("tokenizer",):
        settings = folder / name / "settings.json"
        pad = "<|endoftext|>" if name == "tokenizer" else "!"
        if settings.is_file():
            pad = str(read_json(settings, "tokenizer settings").get("pad_token", pad))
        pads.append(pad)
    return pads


def read_card(path: Path, config: str | Path | None = None) -> dict[str, Any]:
    """A card from the files' own configs (no weights read)."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "folder":
        folder = pipeline_folder(path)
        assert folder is not None
        cfg = {"kind": kind, "path": str(folder), "config_folder": str(folder),
               **_folder_card(folder)}
        params = _folder_params(folder)
        name = folder.name
    elif kind in ("single", "ckpt"):
        shapes = (_safetensors_shapes(path) or {}) if kind == "single" else {}
        # A pickle that would run code is refused right away, before anything is read.
        allowed = ckpt_allowances(path) if kind == "ckpt" else []
        detected = ""
        if not config:
            detected = detect_base(shapes if kind == "single" else {
                k: tuple(v.shape) for k, v in read_ckpt_state(path, allowed).items()})
        folder = base_folder(config, detected)
        if not (folder / "model_index.json").is_file():
            raise CheckpointError(f"{path}: the configs of base '{detected}' are missing "
                                  f"({folder}): reinstall the studio or give --config")
        cfg = {"kind": kind, "path": str(path), "config_folder": str(folder),
               "base": str(config or detected), **_folder_card(folder)}
        params = _file_params(path, shapes)
        name = path.stem
    else:
        raise CheckpointError(f"{path}: not a Stable Diffusion checkpoint (a diffusers "
                              "folder, an original-layout .safetensors or a .ckpt)")
    cfg["parameters"] = params
    what = "inpainting" if cfg["inpainting"] else "text-to-image"
    xl = " XL" if cfg["xl"] else ""
    pred = ", v-prediction" if cfg["prediction"] == "v_prediction" else ""
    return {"family": FAMILY, "config": cfg,
            "description": f"Stable Diffusion{xl} {what} '{name}', {cfg['native']} px native"
                           f"{pred}, {params / 1e6:.0f} M parameters"}


def read_ckpt_state(path: Path, allowed: list[Any] | None = None) -> dict[str, Any]:
    """The tensors of a .ckpt (``state_dict`` unwrapped), read without running code
    (``allowed``: :func:`ckpt_allowances` of it, when already checked)."""
    import torch

    if allowed is None:
        allowed = ckpt_allowances(path)
    blob = torch_load_weights(path, allowed, mmap=True)
    while isinstance(blob, dict) and isinstance(blob.get("state_dict"), dict):
        blob = blob["state_dict"]
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return {k: v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def _file_params(path: Path, shapes: dict[str, tuple[int, ...]]) -> int:
    if not shapes:
        return int(path.stat().st_size // 2)
    return int(sum(int(np.prod(s)) for s in shapes.values()))


def _folder_params(folder: Path) -> int:
    total = 0
    for f in folder.glob("*/*.safetensors"):
        if "." in f.stem:             # a variant (model.fp16.safetensors) beside the main file
            continue
        shapes = _safetensors_shapes(f) or {}
        total += sum(int(np.prod(s)) for s in shapes.values())
    if total == 0:
        total = sum(f.stat().st_size for f in folder.glob("*/*.bin")) // 4
    return int(total)


def read_checkpoint(path: Path, config: str | Path | None = None) -> Checkpoint:
    """The card only: diffusers reads the weights when the model loads."""
    return Checkpoint(path=Path(path), state={}, card=read_card(path, config))


def describe(card: dict[str, Any]) -> dict[str, Any]:
    n = int(card["config"]["native"])
    return {"capabilities": Capability.INPAINT | Capability.PROMPT, "image_shape": (n, n, 3),
            "description": card.get("description", "Stable Diffusion")}


# -- memory ----------------------------------------------------------------------------------

def available_bytes(device: str) -> int:
    """Free memory on ``device`` (MemAvailable of the host for the CPU)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2**62


def needed_bytes(card: dict[str, Any], device: str, offload: bool = False,
                 precision: str = "auto") -> int:
    """What loading and running at the native size takes, about: the weights in the dtype
    they load in, plus working memory that grows with the picture (bench/sd.py: SD 1.5 at
    512 px in float32 on a CPU peaked at 6.4 GB, 4.3 GB of it weights; 2.1 GB is kept)."""
    cfg = card["config"]
    per = 4 if device_dtype(device, precision) == _float32() else 2
    weights = int(cfg["parameters"]) * per
    work = int(2.1e9 * (int(cfg["native"]) / 512) ** 2 * per / 4)
    return (work + weights // 3) if offload else weights + work


def _float32() -> Any:
    import torch

    return torch.float32


def check_fits(card: dict[str, Any], device: str, offload: bool = False,
               precision: str = "auto") -> None:
    need, have = needed_bytes(card, device, offload, precision), available_bytes(device)
    if need > have:
        where = "GPU" if device.startswith("cuda") else "computer"
        hint = (" Try the option 'offload to the CPU'." if device.startswith("cuda")
                and not offload else " Close other programs or use a smaller model.")
        raise MemoryError(f"this model needs about {need / 2**30:.1f} GB and the {where} has "
                          f"{have / 2**30:.1f} GB free: it will not fit.{hint}")


# -- the backend -----------------------------------------------------------------------------

@dataclass
class _Lora:
    adapter: str
    stamp: tuple[int, float]


class StableDiffusionBackend:
    """Text-to-image, img2img and inpainting (Capability.PROMPT | Capability.INPAINT)."""

    info: Any = None

    def __init__(self, pipe: Any, card: dict[str, Any], device: str) -> None:
        self.pipe = pipe
        self.card = card
        self.device = device
        self.config = card["config"]
        self._pipes: dict[str, Any] = {}
        self._own_scheduler = pipe.scheduler
        self._loras: dict[str, _Lora] = {}
        self._embeddings: dict[str, str] = {}         # file -> its word

    @property
    def native(self) -> int:
        return int(self.config["native"])

    @property
    def inpainting(self) -> bool:
        return bool(self.config["inpainting"])

    def _pipeline(self, task: str) -> Any:
        """The diffusers pipeline of ``task`` ('t2i', 'i2i', 'inpaint'), sharing this
        model's components (built once with ``from_pipe``)."""
        import diffusers

        xl = "XL" if self.config["xl"] else ""
        cls = {"t2i": f"StableDiffusion{xl}Pipeline",
               "i2i": f"StableDiffusion{xl}Img2ImgPipeline",
               "inpaint": f"StableDiffusion{xl}InpaintPipeline"}[task]
        if type(self.pipe).__name__ == cls:
            return self.pipe
        if cls not in self._pipes:
            self._pipes[cls] = getattr(diffusers, cls).from_pipe(self.pipe)
            self._pipes[cls].set_progress_bar_config(disable=True)
        return self._pipes[cls]

    def _scheduler(self, name: str) -> Any:
        if name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler '{name}' (one of {', '.join(SCHEDULERS)})")
        entry = SCHEDULERS[name]
        if entry is None:
            return self._own_scheduler
        import diffusers

        cls, extra = entry
        return getattr(diffusers, cls).from_config(self._own_scheduler.config, **extra)

    def set_loras(self, loras: tuple[tuple[str, float], ...]) -> None:
        """Activate exactly these LoRA files with their weights (diffusers or kohya keys)."""
        for path, _ in loras:
            p = Path(path)
            if not p.is_file():
                raise ValueError(f"{path}: no such LoRA file")
            st = p.stat()
            stamp = (st.st_size, st.st_mtime)
            known = self._loras.get(str(p))
            if known is not None and known.stamp == stamp:
                continue
            adapter = f"lora{len(self._loras)}"
            try:
                self.pipe.load_lora_weights(str(p), adapter_name=adapter)
            except (ValueError, KeyError, RuntimeError, OSError) as exc:
                raise ValueError(f"{path}: not a LoRA this model takes "
                                 f"({first_line(exc)})") from None
            self._loras[str(p)] = _Lora(adapter, stamp)
        if not self._loras:
            return
        if loras:
            self.pipe.enable_lora()
            self.pipe.set_adapters([self._loras[str(Path(p))].adapter for p, _ in loras],
                                   adapter_weights=[float(w) for _, w in loras])
        else:
            self.pipe.disable_lora()

    def add_embeddings(self, paths: tuple[str, ...]) -> None:
        """Load textual-inversion files (A1111 .pt/.safetensors, diffusers, kohya keys) under
        their file names' stems, once each."""
        for path in paths:
            p = Path(path)
            if str(p) in self._embeddings:
                continue
            if not p.is_file():
                raise ValueError(f"{path}: no such embedding file")
            word = p.stem
            if word in self._embeddings.values():
                raise ValueError(f"{path}: another embedding already uses the word '{word}'")
            if p.suffix.lower() != ".safetensors":
                state = torch_load_weights(p)
                if isinstance(state, dict) and isinstance(state.get("string_to_param"), dict):
                    state = next(iter(state["string_to_param"].values()))     # A1111's .pt
            else:
                state = str(p)
            try:
                self.pipe.load_textual_inversion(state, token=word)
            except (ValueError, KeyError, RuntimeError, OSError) as exc:
                raise ValueError(f"{path}: not an embedding this model takes "
                                 f"({first_line(exc)})") from None
            self._embeddings[str(p)] = word

    def latent_preview(self, latents: Any) -> np.ndarray:
        """(h, w, 3) float32 in [0, 1] of latents (1, 4, h, w), without the VAE."""
        lat = latents[0, :4].float().cpu().numpy()
        m = LATENT_RGB["sdxl" if self.config["xl"] else "sd"]
        rgb = np.einsum("chw,cr->hwr", lat, m)
        return np.ascontiguousarray(np.clip((rgb + 1) / 2, 0, 1), np.float32)

    def decode_preview(self, latents: Any) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] of latents through the VAE (the full decode)."""
        import torch

        vae = self.pipe.vae
        with torch.inference_mode():
            img = vae.decode(latents[:1, :4].to(vae.dtype) / vae.config.scaling_factor).sample
        img = ((img[0].float().permute(1, 2, 0).cpu() + 1) / 2).clamp(0, 1)
        return np.ascontiguousarray(img.numpy(), np.float32)

    def generate(self, request: GenerateRequest, *, ctx: JobContext | None = None
                 ) -> np.ndarray:
        """One picture ``(H, W, 3)`` float32 in [0, 1] at ``request``'s size; previews
        (``(h, w, 3)`` in [0, 1]) go through ``ctx.report`` after every step."""
        import torch
        from PIL import Image

        r = request
        if r.image is None:
            task = "inpaint" if self.inpainting else "t2i"
        else:
            task = "inpaint" if (r.mask is not None or self.inpainting) else "i2i"
        pipe = self._pipeline(task)
        pipe.scheduler = self._scheduler(r.scheduler)
        self.set_loras(r.loras)
        self.add_embeddings(r.embeddings)
        kwargs: dict[str, Any] = dict(
            prompt=r.prompt, negative_prompt=r.negative or None, num_inference_steps=r.steps,
            guidance_scale=r.guidance, height=r.height, width=r.width, output_type="np",
            generator=torch.Generator("cpu").manual_seed(int(r.seed)))
        w, h = r.width, r.height
        if task == "inpaint":
            if r.image is None:   # an inpainting model's text-to-image: all of a gray picture
                picture = Image.new("RGB", (w, h), (127, 127, 127))
                mask = Image.new("L", (w, h), 255)
            else:
                picture = _pil(r.image)
                mask = (Image.new("L", (w, h), 255) if r.mask is None
                        else Image.fromarray(np.round(r.mask * 255).astype(np.uint8)))
            kwargs.update(image=picture, mask_image=mask, strength=r.strength)
        elif task == "i2i":
            kwargs.update(image=_pil(r.image), strength=r.strength)
            kwargs.pop("height")
            kwargs.pop("width")
        total = max(1, _steps_run(pipe, task, r))
        every = int(r.preview_decode_every)

        def on_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            latents = tensors["latents"]
            if ctx is not None:
                full = every > 0 and ((i + 1) % every == 0)
                preview = self.decode_preview(latents) if full else self.latent_preview(latents)
                n = int(getattr(p, "_num_timesteps", 0) or total)
                ctx.report((i + 1) / max(n, i + 1), preview)
            return tensors

        if ctx is not None:
            ctx.check()
        unet = pipe.unet
        hooks = [] if ctx is None else cancel_points(
            [*unet.down_blocks, unet.mid_block, *unet.up_blocks], ctx)
        try:
            out = pipe(**kwargs, callback_on_step_end=on_step,
                       callback_on_step_end_tensor_inputs=["latents"])
        finally:
            for h in hooks:
                h.remove()
        return np.ascontiguousarray(out.images[0], np.float32)


def cancel_points(blocks: list[Any], ctx: JobContext) -> list[Any]:
    """Cancel checks before each of ``blocks`` (modules), so a cancel stops a long forward
    pass within a fraction of it (one step of SD 1.5 at 512 px takes 12 s on a 2-core CPU,
    a VAE decode of a 512 px frame about as long); returns the hooks to remove."""
    def check(_module: Any, _inputs: Any) -> None:
        ctx.check()

    return [b.register_forward_pre_hook(check) for b in blocks if b is not None]


def _steps_run(pipe: Any, task: str, r: GenerateRequest) -> int:
    """How many denoising steps the pipeline will make (fewer than ``steps`` with a
    strength below 1)."""
    if task == "t2i" or (task == "inpaint" and r.image is None):
        return r.steps
    return min(r.steps, int(r.steps * r.strength))


def _pil(image: np.ndarray) -> Any:
    from PIL import Image

    a = np.asarray(image, np.float32)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8), "RGB")


def _quiet() -> None:
    """No library progress bars or advice on the user's terminal: the studio reports."""
    import diffusers
    import huggingface_hub
    import transformers

    for lib in (diffusers, transformers):
        lib.utils.logging.set_verbosity_error()
        lib.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()


def device_dtype(device: str, precision: str = "auto") -> Any:
    """float16 on a GPU (bfloat16 when asked), float32 on the CPU."""
    import torch

    if precision == "float32" or not device.startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float16


def build_pipeline(card: dict[str, Any], device: str, *, precision: str = "auto",
                   offload: bool = False, attention_slicing: bool = False,
                   ctx: JobContext | None = None) -> Any:
    """The diffusers pipeline of a card, offline, on ``device``."""
    import diffusers
    import torch

    cfg = card["config"]
    check_fits(card, device, offload, precision)
    _quiet()
    cls = getattr(diffusers, cfg["pipeline"], None)
    if cls is None:
        raise CheckpointError(f"{cfg['path']}: pipeline '{cfg['pipeline']}' is not one this "
                              "diffusers knows")
    dtype = device_dtype(device, precision)
    extra: dict[str, Any] = {}
    if not cfg["xl"]:
        extra.update(safety_checker=None, requires_safety_checker=False)
    if ctx is not None:
        ctx.report(0.05)
    try:
        if cfg["kind"] == "folder":
            pipe = cls.from_pretrained(cfg["path"], local_files_only=True, dtype=dtype,
                                       **extra)
        else:
            names = ("tokenizer", "tokenizer_2")
            for name, pad in zip(names, cfg["tokenizer_pads"]):
                extra[name] = (folder_tokenizer(Path(cfg["config_folder"]), name)
                               or clip_tokenizer(pad))
            allowed = ckpt_allowances(Path(cfg["path"])) if cfg["kind"] == "ckpt" else []
            with torch.serialization.safe_globals(allowed):
                pipe = cls.from_single_file(cfg["path"], config=cfg["config_folder"],
                                            local_files_only=True, dtype=dtype, **extra)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{cfg['path']}: could not be opened offline "
                              f"({first_line(exc)})") from None
    if ctx is not None:
        ctx.report(0.8)
    pipe.set_progress_bar_config(disable=True)
    if attention_slicing:
        pipe.enable_attention_slicing()
    if offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if ctx is not None:
        ctx.report(1.0)
    return pipe


def load(ckpt: Checkpoint, device: str, **options: Any) -> StableDiffusionBackend:
    pipe = build_pipeline(ckpt.card, device, **options)
    return StableDiffusionBackend(pipe, ckpt.card, device)
