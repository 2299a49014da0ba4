"""A user's diffusers UNet2DModel, run for unconditional inpainting with our samplers.

Accepted layouts (File > Open Checkpoint takes the folder or any file in it):

* a UNet folder: ``config.json`` (``_class_name`` UNet2DModel) and
  ``diffusion_pytorch_model.safetensors``;
* a pipeline folder: ``unet/`` as above, ``scheduler/scheduler_config.json`` (its beta
  schedule, training timesteps and prediction type are used) and usually ``model_index.json``.

The network is built by the diffusers library from its own config; weights are read with
safetensors (no pickled code runs). Without a scheduler config diffusers' DDPM defaults
apply (1000 steps, linear betas 1e-4..0.02, epsilon).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoints import Checkpoint, CheckpointError, first_line, read_json
from models.protocol import Capability, InpaintRequest, JobContext
from models.samplers import make_sampler
from models.samplers.repaint import FEATHER, RepaintPreset, inpaint
from models.samplers.schedule import NoiseSchedule, ScheduleConfig

WEIGHTS = "diffusion_pytorch_model.safetensors"


def unet_folder(path: Path) -> Path | None:
    """The UNet folder ``path`` points at (the folder, a file in it, or a pipeline), or None."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    for cand in (folder / "unet", folder):
        cfg = cand / "config.json"
        if cfg.is_file() and (cand / WEIGHTS).is_file():
            try:
                if json.loads(cfg.read_text(encoding="utf-8")).get("_class_name") == \
                        "UNet2DModel":
                    return cand
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
    return None


def sniff(path: Path) -> bool:
    return unet_folder(path) is not None


def read_card(path: Path) -> dict[str, Any]:
    """A card made from the UNet's config.json and the pipeline's scheduler config."""
    folder = unet_folder(path)
    if folder is None:
        raise CheckpointError(f"{path}: not a diffusers UNet2DModel folder (config.json and "
                              f"{WEIGHTS})")
    unet = read_json(folder / "config.json", "UNet config")
    sched_file = folder.parent / "scheduler" / "scheduler_config.json"
    sched = read_json(sched_file, "scheduler config") if sched_file.is_file() else {}
    try:
        schedule = ScheduleConfig.from_dict(sched).to_dict()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{sched_file}: {first_line(exc)}") from None
    size = unet.get("sample_size", 64)
    size = size if isinstance(size, int) else int(size[0])
    return {"family": "diffusers-unet", "config": {"unet": unet, "schedule": schedule,
                                                   "folder": str(folder)},
            "description": f"diffusers UNet2DModel {size}px, {unet.get('in_channels', 3)} "
                           f"channel(s), {schedule['prediction_type']}"}


def read_checkpoint(path: Path) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card = read_card(path)
    weights = Path(card["config"]["folder"]) / WEIGHTS
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file "
                              f"({first_line(exc)})") from None
    return Checkpoint(path=Path(path), state=state, card=card)


def _shape(card: dict[str, Any]) -> tuple[int, int, int]:
    unet = card["config"]["unet"]
    size = unet.get("sample_size", 64)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return h, w, int(unet.get("in_channels", 3))


def describe(card: dict[str, Any]) -> dict[str, Any]:
    return {"capabilities": Capability.INPAINT, "image_shape": _shape(card),
            "description": card.get("description", "diffusers UNet2DModel"),
            "params": (FEATHER,)}


class DiffusersInpaintBackend:
    """Unconditional inpainting (Capability.INPAINT) with a diffusers UNet2DModel."""

    info: Any = None

    def __init__(self, net: torch.nn.Module, schedule: NoiseSchedule, shape, device: str
                 ) -> None:
        self.net = net.to(device).eval()
        self.schedule = schedule
        self.shape = tuple(shape)
        self.device = device

    @torch.inference_mode()
    def inpaint(self, request: InpaintRequest, *, ctx: JobContext | None = None,
                feather: float = FEATHER.default) -> np.ndarray:
        """The image (H, W, C) in [0, 1] with the masked part repainted."""
        if request.image.shape != self.shape:
            raise ValueError(f"this model paints {self.shape[0]}x{self.shape[1]} pictures "
                             f"with {self.shape[2]} channel(s), not {request.image.shape}")
        if request.label is not None:
            raise ValueError("this model takes no class (it is unconditional)")
        x = torch.from_numpy(request.image).permute(2, 0, 1)[None].to(self.device) * 2 - 1
        m = torch.from_numpy(request.mask)[None, None].to(self.device)
        preset = RepaintPreset(request.steps, request.repaint_jumps, request.repaint_resamples)
        sampler = make_sampler(request.sampler, self.schedule)

        def denoise(xt: torch.Tensor, t: int) -> torch.Tensor:
            tt = torch.full((len(xt),), t, device=self.device, dtype=torch.long)
            return self.net(xt, tt).sample

        def pixels(v: torch.Tensor) -> np.ndarray:
            img = ((v[0].permute(1, 2, 0).float().cpu() + 1) / 2).clamp(0, 1)
            return np.ascontiguousarray(img.numpy(), dtype=np.float32)

        g = torch.Generator().manual_seed(int(request.seed))
        out = inpaint(denoise, sampler, self.schedule, x, m, preset, generator=g,
                      feather_px=feather, ctx=ctx, preview=pixels)
        return pixels(out)


def load(ckpt: Checkpoint, device: str) -> DiffusersInpaintBackend:
    from diffusers import UNet2DModel

    cfg = ckpt.card["config"]
    try:
        net = UNet2DModel.from_config(cfg["unet"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"the UNet config cannot be built ({first_line(exc)})") from None
    result = net.load_state_dict({k: v.float() for k, v in ckpt.state.items()}, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"missing keys: {result.missing_keys[:4]}; unexpected keys: "
                         f"{result.unexpected_keys[:4]}")
    schedule = NoiseSchedule(ScheduleConfig(**cfg["schedule"]))
    return DiffusersInpaintBackend(net, schedule, _shape(ckpt.card), device)
