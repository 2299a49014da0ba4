"""Stable Diffusion's VAE as a latent model: a user's photos at their own size.

Accepted (the Latent Explorer's Open, ``--model PATH`` of ``reconstruct`` / ``interpolate``):

* any Stable Diffusion checkpoint :mod:`models.image.sd` opens (a pipeline folder, an
  original-layout ``.safetensors``, a ``.ckpt``): its VAE alone is read. The Stable
  Diffusion family claims such paths first; a panel or command that wants a latent space
  asks the registry for one (``add_checkpoint(path, capability=Capability.LATENT)``);
* a standalone VAE: a diffusers ``AutoencoderKL`` folder (``config.json``), or a single
  ``.safetensors`` / ``.ckpt`` / ``.pt`` in the original layout (``encoder.conv_in``,
  ``decoder.conv_out``, ...), e.g. ``vae-ft-mse-840000-ema-pruned``; its architecture and
  scaling come from the shipped SD 1.5 configs (``--config sdxl`` for SDXL's scaling).

The latent of an H x W picture is ``(channels, H/8, W/8)``, so its size follows the picture:
the family has Capability.ANY_SIZE and the registry hands out a fixed-size view of it per
working size (:meth:`models.registry.Registry.sized`), which the panels and commands use like
any latent model. Encoding takes the posterior mean times the VAE's scaling factor, as
diffusers' pipelines do; decoding runs one picture at a time (cancel between pictures). The
VAE itself is diffusers' ``AutoencoderKL``, always in float32 (SD's VAE overflows in float16).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import Checkpoint, CheckpointError, first_line, read_json
from models.image import sd
from models.protocol import BackendInfo, Capability, JobContext

FAMILY = "sd-vae"
LAZY = True
MAX_SIDE = 1024        # a bigger photo is scaled down to this long side (multiples of 8)
DEFAULT_SIDE = 512     # the working size when no slot holds a picture (seeds only)
_VAE_KEYS = ("encoder.conv_in.weight", "decoder.conv_out.weight")
_PREFIXES = ("", "first_stage_model.", "vae.")


def _vae_folder(path: Path) -> Path | None:
    """The diffusers AutoencoderKL folder ``path`` is or lies in, or None."""
    for cand in ([path] if path.is_dir() else []) + [path.parent]:
        if (cand / "config.json").is_file():
            return cand if sd._own_class(cand) == "AutoencoderKL" else None
    return None


def _layout(keys: Any) -> str:
    """'original' or 'diffusers' for a state's key names with a VAE in them, else ''."""
    keys = set(keys)
    for prefix in _PREFIXES:
        if all(prefix + k in keys for k in _VAE_KEYS):
            return "original" if prefix + "encoder.down.0.block.0.conv1.weight" in keys \
                else "diffusers"
    return ""


def vae_kind(path: Path) -> str:
    """'pipeline' (a whole SD checkpoint), 'folder', 'single', 'ckpt', or '' (not a VAE)."""
    path = Path(path)
    if _vae_folder(path) is not None:
        return "folder"
    if sd.file_kind(path):
        return "pipeline"
    if not path.is_file():
        return ""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        shapes = sd._safetensors_shapes(path)
        return "single" if shapes and _layout(shapes) else ""
    if suffix in (".ckpt", ".pt", ".pth"):
        pkl = sd._ckpt_pickle(path)
        return "ckpt" if pkl is not None and b"decoder.conv_out" in pkl else ""
    return ""


def sniff(path: Path) -> bool:
    return vae_kind(path) != ""


def read_card(path: Path, config: str | Path | None = None) -> dict[str, Any]:
    """A card from the VAE's config (no weights read)."""
    path = Path(path)
    kind = vae_kind(path)
    if kind == "pipeline":
        parent = sd.read_card(path, config)["config"]
        if parent["kind"] == "folder":
            folder = Path(parent["path"]) / "vae"
        else:
            folder = Path(parent["config_folder"]) / "vae"
        source, where = parent["kind"], parent["path"]
        name = f"the VAE of '{Path(where).stem}'"
    elif kind == "folder":
        folder = _vae_folder(path)
        assert folder is not None
        source, where, name = "folder", str(folder), f"VAE '{folder.name}'"
    elif kind in ("single", "ckpt"):
        folder = sd.base_folder(config, "sd15") / "vae"
        if kind == "ckpt":
            sd.ckpt_allowances(path)          # a pickle that would run code is refused now
        source, where, name = kind, str(path), f"VAE '{path.stem}'"
    else:
        raise CheckpointError(f"{path}: no VAE found (a Stable Diffusion checkpoint, a "
                              "diffusers AutoencoderKL folder, or a VAE .safetensors/.ckpt)")
    vae = read_json(folder / "config.json", "VAE config")
    scale = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
    cfg = {"kind": source, "path": where, "vae_folder": str(folder),
           "scale": int(scale), "latent_channels": int(vae.get("latent_channels", 4)),
           "scaling_factor": float(vae.get("scaling_factor") or 1.0),
           "shift_factor": float(vae.get("shift_factor") or 0.0),
           "channels": int(vae.get("in_channels", 3))}
    return {"family": FAMILY, "config": cfg, "name_tag": "VAE" if kind == "pipeline" else "",
            "description": f"Stable Diffusion VAE: {name}; pictures at their own size "
                           f"(latent {cfg['latent_channels']} x H/{scale} x W/{scale})"}


def read_checkpoint(path: Path, config: str | Path | None = None) -> Checkpoint:
    """The card only: diffusers reads the weights when the model loads."""
    return Checkpoint(path=Path(path), state={}, card=read_card(path, config))


def describe(card: dict[str, Any]) -> dict[str, Any]:
    return {"capabilities": Capability.LATENT | Capability.SAMPLE | Capability.ANY_SIZE,
            "image_shape": (), "latent_size": 0,
            "description": card.get("description", "Stable Diffusion VAE")}


def working_size(card: dict[str, Any], height: int, width: int) -> tuple[int, int]:
    """The size (H, W) a picture of ``height`` x ``width`` is worked at: its own, scaled
    down to MAX_SIDE on its long side when larger, then cut to multiples of the VAE's
    downsampling (8)."""
    step = int(card["config"]["scale"])
    h, w = max(int(height), 1), max(int(width), 1)
    shrink = min(1.0, MAX_SIDE / max(h, w))
    h, w = round(h * shrink), round(w * shrink)
    return (max(step, h // step * step), max(step, w // step * step))


def view_info(card: dict[str, Any], info: BackendInfo, height: int, width: int
              ) -> dict[str, Any]:
    """What a fixed-size view changes in the model's info."""
    cfg = card["config"]
    s = int(cfg["scale"])
    return {"image_shape": (height, width, int(cfg["channels"])),
            "latent_size": int(cfg["latent_channels"]) * (height // s) * (width // s)}


def _load_vae(cfg: dict[str, Any]) -> Any:
    import diffusers
    import torch

    sd._quiet()
    cls = diffusers.AutoencoderKL
    path = Path(cfg["path"])
    try:
        if cfg["kind"] == "folder":
            folder = Path(cfg["vae_folder"])
            return cls.from_pretrained(str(folder), local_files_only=True,
                                       torch_dtype=torch.float32)
        allowed = sd.ckpt_allowances(path) if cfg["kind"] == "ckpt" else []
        with torch.serialization.safe_globals(allowed):
            if cfg["kind"] in ("single", "ckpt") and _diffusers_layout(path):
                vae = cls.from_config(cls.load_config(cfg["vae_folder"]))
                vae.load_state_dict(_diffusers_state(path, allowed))
                return vae
            return cls.from_single_file(str(path), config=str(Path(cfg["vae_folder"])),
                                        local_files_only=True, torch_dtype=torch.float32)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: its VAE could not be opened offline "
                              f"({first_line(exc)})") from None


def _diffusers_layout(path: Path) -> bool:
    if path.suffix.lower() == ".safetensors":
        return _layout(sd._safetensors_shapes(path) or {}) == "diffusers"
    return False          # a .ckpt VAE is always the original layout


def _diffusers_state(path: Path, allowed: list[Any]) -> dict[str, Any]:
    from safetensors.torch import load_file

    state = load_file(str(path))
    prefix = next(p for p in _PREFIXES if all(p + k in state for k in _VAE_KEYS))
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@contextlib.contextmanager
def hooks_removed(hooks: list[Any]):
    try:
        yield
    finally:
        for h in hooks:
            h.remove()


class SDVAEBackend:
    """The VAE of any size; :meth:`at_size` gives the fixed-size latent model a panel uses."""

    info: Any = None

    def __init__(self, vae: Any, card: dict[str, Any], device: str) -> None:
        self.vae = vae
        self.card = card
        self.device = device
        self.config = card["config"]

    def at_size(self, height: int, width: int) -> SizedVAE:
        return SizedVAE(self, height, width)


class SizedVAE:
    """Pictures of one size to flat latents ``(N, C*H/8*W/8)`` and back (LatentBackend)."""

    info: Any = None

    def __init__(self, owner: SDVAEBackend, height: int, width: int) -> None:
        s = int(owner.config["scale"])
        if height % s or width % s:
            raise ValueError(f"{width}x{height} is not a multiple of {s}")
        self.owner = owner
        self.height, self.width = int(height), int(width)
        self.latent_shape = (int(owner.config["latent_channels"]), height // s, width // s)

    @property
    def size(self) -> int:
        return int(np.prod(self.latent_shape))

    def encode(self, images: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Posterior means (scaled as SD's pipelines scale them) of ``(N, H, W, 3)``."""
        import torch

        images = np.asarray(images, np.float32)
        want = (self.height, self.width, int(self.owner.config["channels"]))
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(f"pictures of shape {images.shape[1:]} given; this view works at "
                             f"{want}")
        cfg, vae = self.owner.config, self.owner.vae
        out = []
        hooks = [] if ctx is None else sd.cancel_points(
            [m for m in vae.encoder.modules() if type(m).__name__ == "ResnetBlock2D"], ctx)
        with hooks_removed(hooks), torch.inference_mode():
            for k in range(len(images)):
                if ctx is not None:
                    ctx.report(k / len(images))
                # Laid out as diffusers' image processor lays it out (channels last in
                # memory): the convolutions then round exactly as in its pipelines.
                x = torch.from_numpy(images[k:k + 1].transpose(0, 3, 1, 2))
                x = x.to(self.owner.device) * 2 - 1
                mean = vae.encode(x).latent_dist.mean
                z = (mean - cfg["shift_factor"]) * cfg["scaling_factor"]
                out.append(z.float().cpu().numpy().reshape(-1))
        return np.ascontiguousarray(np.stack(out), np.float32)

    def decode(self, latents: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Pictures ``(N, H, W, 3)`` in [0, 1], one decode at a time."""
        import torch

        latents = np.asarray(latents, np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.size:
            raise ValueError(f"latents of shape {latents.shape} given; this view takes "
                             f"(N, {self.size})")
        cfg, vae = self.owner.config, self.owner.vae
        out = np.empty((len(latents), self.height, self.width, 3), np.float32)
        # Cancel (a newer scrub position) stops a decode between its residual blocks.
        hooks = [] if ctx is None else sd.cancel_points(
            [m for m in vae.decoder.modules() if type(m).__name__ == "ResnetBlock2D"], ctx)
        with hooks_removed(hooks), torch.inference_mode():
            for k, z in enumerate(latents):
                if ctx is not None:     # a single frame (a scrub) previews first: seconds
                    ctx.report(k / len(latents),  # on a CPU, so the drag shows at once
                               self.preview(z) if len(latents) == 1 else None)
                t = torch.from_numpy(z.reshape(self.latent_shape))[None].to(self.owner.device)
                x = vae.decode(t / cfg["scaling_factor"] + cfg["shift_factor"]).sample
                x = ((x[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0)
                out[k] = x.cpu().numpy()
        return out

    def preview(self, latent: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) in [0, 1] of one flat latent without the VAE: the latent's channels
        mapped to colours (the linear approximation SD's previews use), each latent pixel
        an 8x8 block; None for a latent that is not SD's 4 channels."""
        c, h, w = self.latent_shape
        if c != 4:
            return None
        xl = float(self.owner.config["scaling_factor"]) < 0.15        # SDXL's VAE: 0.13025
        m = sd.LATENT_RGB["sdxl" if xl else "sd"]
        rgb = np.einsum("chw,cr->hwr", np.asarray(latent, np.float32).reshape(c, h, w), m)
        s = self.height // h
        rgb = np.repeat(np.repeat(np.clip((rgb + 1) / 2, 0, 1), s, 0), s, 1)
        return np.ascontiguousarray(rgb, np.float32)

    def sample_latents(self, n: int, seed: int) -> np.ndarray:
        """``n`` draws of the standard normal the scaled latents roughly follow (a CPU
        generator seeded by ``seed``: the same on every device)."""
        import torch

        g = torch.Generator().manual_seed(int(seed))
        return torch.randn((int(n), self.size), generator=g).numpy()


def load(ckpt: Checkpoint, device: str, **options: Any) -> SDVAEBackend:
    ctx = options.get("ctx")
    if ctx is not None:
        ctx.report(0.05)
    vae = _load_vae(ckpt.card["config"]).to(device).eval()
    if ctx is not None:
        ctx.report(1.0)
    return SDVAEBackend(vae, ckpt.card, device)
