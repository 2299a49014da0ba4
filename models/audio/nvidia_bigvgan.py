"""Users' BigVGAN vocoders (NVIDIA's BigVGAN v1/v2: a folder with ``config.json`` and
``bigvgan_generator.pt``), run by the ``bigvgan`` package itself.

The generator file is a ``torch.save`` of ``{'generator': state_dict}``, read with
``weights_only=True`` (nothing in it runs); the network is the package's ``BigVGAN`` class
built from the config beside it (its torch anti-aliased activations; the CUDA kernel, which
would be compiled at load, is never used), weight norm removed for inference. Audio is
analysed by the package's own ``get_mel_spectrogram`` at the model's own rate and settings,
which is HiFi-GAN's mel convention, and so the studio's (MelSettings). Nothing is fetched:
the package's hub loader is never called.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import (
    Checkpoint,
    CheckpointError,
    load_state,
    read_json,
    torch_load_weights,
)
from models.protocol import BackendInfo, Capability, JobContext, MelSettings

FAMILY = "bigvgan"
GENERATOR = "bigvgan_generator.pt"
REQUIRED = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
            "resblock_kernel_sizes", "resblock_dilation_sizes", "activation", "num_mels",
            "n_fft", "hop_size", "win_size", "sampling_rate", "fmin", "fmax")


def generator_file(path: Path) -> Path | None:
    """The generator file ``path`` is or holds (a BigVGAN folder), or None."""
    path = Path(path)
    if path.is_dir():
        path = path / GENERATOR
    if path.is_file() and (path.parent / "config.json").is_file():
        if path.name == GENERATOR:
            return path
        try:           # another name (g_05000000): a BigVGAN config says so by its activation
            raw = read_json(path.parent / "config.json", "BigVGAN config")
        except CheckpointError:
            return None
        if isinstance(raw, dict) and raw.get("activation") in ("snake", "snakebeta") \
                and path.suffix != ".safetensors" and not path.with_suffix(".json").is_file():
            return path
    return None


def sniff(path: Path) -> bool:
    return generator_file(path) is not None


def read_config(gen: Path) -> dict[str, Any]:
    cpath = gen.parent / "config.json"
    raw = read_json(cpath, "BigVGAN config")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{cpath}: a BigVGAN config must be a JSON object")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise CheckpointError(f"{cpath}: BigVGAN config lacks {', '.join(missing)}")
    if raw["activation"] not in ("snake", "snakebeta"):
        raise CheckpointError(f"{cpath}: activation '{raw['activation']}' is not BigVGAN's "
                              "(snake or snakebeta)")
    return raw


def mel_settings(cfg: dict[str, Any]) -> MelSettings:
    fmax = cfg["fmax"] if cfg["fmax"] is not None else cfg["sampling_rate"] / 2
    return MelSettings(int(cfg["sampling_rate"]), int(cfg["n_fft"]), int(cfg["hop_size"]),
                       int(cfg["win_size"]), int(cfg["num_mels"]), float(cfg["fmin"]),
                       float(fmax))


def read_card(path: Path) -> dict[str, Any]:
    gen = generator_file(path)
    if gen is None:
        raise CheckpointError(f"{path}: not a BigVGAN folder (config.json and {GENERATOR})")
    cfg = read_config(gen)
    ups = int(np.prod(cfg["upsample_rates"]))
    return {"family": FAMILY, "config": cfg, "path": str(gen),
            "description": f"BigVGAN vocoder '{gen.parent.name}', {cfg['sampling_rate']} Hz, "
                           f"{cfg['num_mels']} mels, hop {cfg['hop_size']} (x{ups} upsampling)"}


def read_checkpoint(path: Path) -> Checkpoint:
    gen = generator_file(path)
    card = read_card(path)
    assert gen is not None
    blob = torch_load_weights(gen)
    if not isinstance(blob, dict) or not isinstance(blob.get("generator"), dict):
        raise CheckpointError(f"{gen}: no 'generator' entry (a BigVGAN generator file holds "
                              "{'generator': state_dict})")
    return Checkpoint(path=gen, state=dict(blob["generator"]), card=card)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    return {"capabilities": Capability.VOCODE, "mel": mel_settings(card["config"]),
            "description": card.get("description", "BigVGAN vocoder")}


def _hparams(cfg: dict[str, Any]) -> Any:
    from bigvgan.env import AttrDict

    return AttrDict(dict(cfg))


class BigVGANBackend:
    """Mel to audio with the package's network; analysis with the package's mel."""

    info: BackendInfo

    def __init__(self, net: Any, cfg: dict[str, Any], device: str) -> None:
        self.net = net.to(device).eval()
        self.cfg = cfg
        self.h = _hparams(cfg)
        self.device = device

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        import torch
        from bigvgan.meldataset import get_mel_spectrogram

        x = torch.as_tensor(np.clip(np.asarray(audio, np.float32), -1, 1))[None]
        return get_mel_spectrogram(x, self.h)[0].numpy()

    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        import torch

        from models.audio.features import check_mel

        ctx = ctx or JobContext()
        ctx.report(0.0)
        m = torch.as_tensor(check_mel(mel, mel_settings(self.cfg)), device=self.device)
        with torch.inference_mode():
            y = self.net(m[None])[0, 0].float().cpu().numpy()
        ctx.report(1.0)
        return np.ascontiguousarray(y)


def load(ckpt: Checkpoint, device: str, **_options: Any) -> BigVGANBackend:
    from bigvgan.bigvgan import BigVGAN

    cfg = ckpt.card["config"]
    with warnings.catch_warnings():       # the package applies torch's older weight norm
        warnings.simplefilter("ignore", FutureWarning)
        net = BigVGAN(_hparams(cfg), use_cuda_kernel=False)
    load_state(net, ckpt.state)
    with contextlib.redirect_stdout(io.StringIO()):     # the package prints as it folds
        net.remove_weight_norm()
    return BigVGANBackend(net, cfg, device)
