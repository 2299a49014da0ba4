"""Users' HiFi-GAN generators in jik876's format (generator file + config.json beside it).

The file is a ``torch.save`` of ``{'generator': state_dict}``, read with ``weights_only=True``.
Weight-normalised convolutions come as ``weight_g``/``weight_v`` (old PyTorch) or
``parametrizations.weight.original0``/``original1`` (new PyTorch); both are folded into plain
weights at load. The mel settings come from the config (HiFi-GAN's own mel convention, which
is also ours), never from ours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.audio.features import check_mel, log_mel
from models.checkpoints import (
    Checkpoint,
    CheckpointError,
    config_from_card,
    first_line,
    read_json,
)
from models.protocol import BackendInfo, Capability, JobContext, MelSettings

LRELU = 0.1
# Mel frames of context each side a piece needs to join seamlessly when a long mel is
# vocoded piece by piece (models.tasks.audio.vocode; measured: the pieces equal one pass).
CHUNK_CONTEXT = 48
REQUIRED = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
            "resblock_kernel_sizes", "resblock_dilation_sizes", "num_mels", "n_fft", "hop_size",
            "win_size", "sampling_rate", "fmin", "fmax")


@dataclass
class HiFiGANConfig:
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    num_mels: int = 80
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    sampling_rate: int = 22050
    fmin: float = 0.0
    fmax: float | None = 8000.0

    @property
    def mel(self) -> MelSettings:
        fmax = self.fmax if self.fmax is not None else self.sampling_rate / 2
        return MelSettings(int(self.sampling_rate), int(self.n_fft), int(self.hop_size),
                           int(self.win_size), int(self.num_mels), float(self.fmin), float(fmax))


def _pad(k: int, d: int) -> int:
    return (k * d - d) // 2


class ResBlock1(nn.Module):
    def __init__(self, ch: int, k: int, d: list[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, _pad(k, di), dilation=di)
                                    for di in d[:3])
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, _pad(k, 1)) for _ in d[:3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU)), LRELU))
        return x


class ResBlock2(nn.Module):
    def __init__(self, ch: int, k: int, d: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, _pad(k, di), dilation=di)
                                   for di in d[:2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU))
        return x


class Generator(nn.Module):
    """jik876's HiFi-GAN generator with plain (already folded) weights."""

    def __init__(self, cfg: HiFiGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.upsample_initial_channel
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(cfg.num_mels, ch, 7, 1, 3)
        block = ResBlock1 if str(cfg.resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            self.ups.append(nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, u,
                                               padding=(k - u) // 2))
            for k2, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(block(ch // 2 ** (i + 1), k2, d))
        self.conv_post = nn.Conv1d(ch // 2 ** len(cfg.upsample_rates), 1, 7, 1, 3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU))
            xs = sum(self.resblocks[i * self.num_kernels + j](x)
                     for j in range(self.num_kernels))
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))[:, 0]


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Plain ``weight`` keys from ``weight_g``/``weight_v`` or parametrizations' originals."""
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        for g_suffix, v_suffix in ((".weight_g", ".weight_v"),
                                   (".parametrizations.weight.original0",
                                    ".parametrizations.weight.original1")):
            if key.endswith(g_suffix):
                pairs.setdefault(key[: -len(g_suffix)], {})["g"] = value
                break
            if key.endswith(v_suffix):
                pairs.setdefault(key[: -len(v_suffix)], {})["v"] = value
                break
        else:
            out[key] = value
    for prefix, gv in pairs.items():
        if set(gv) != {"g", "v"}:
            half = "magnitude (g)" if "g" not in gv else "direction (v)"
            raise ValueError(f"{prefix}: weight-norm {half} is missing")
        g, v = gv["g"].float(), gv["v"].float()
        dims = tuple(range(1, v.dim()))
        out[prefix + ".weight"] = g * v / torch.linalg.vector_norm(v, dim=dims, keepdim=True)
    return out


class HiFiGANBackend:
    info: BackendInfo

    def __init__(self, net: Generator, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.device = device

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.net.cfg.mel).numpy()

    @torch.inference_mode()
    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        ctx = ctx or JobContext()
        ctx.report(0.0)
        m = torch.as_tensor(check_mel(mel, self.net.cfg.mel), device=self.device)
        y = self.net(m[None])[0].float().cpu().numpy()
        ctx.report(1.0)
        return y


def read_config(path: Path) -> HiFiGANConfig:
    """The config.json beside a generator file, checked for every key the generator needs."""
    cpath = path.parent / "config.json"
    if not cpath.is_file():
        raise CheckpointError(f"{path}: HiFi-GAN generator without config.json beside it")
    raw = read_json(cpath, "HiFi-GAN config")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{cpath}: a HiFi-GAN config must be a JSON object")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise CheckpointError(f"{cpath}: HiFi-GAN config lacks {', '.join(missing)}")
    return HiFiGANConfig(**{k: raw[k] for k in REQUIRED})


def sniff(path: Path) -> bool:
    """Whether ``path`` looks like a jik876 generator (config.json beside, not our card)."""
    path = Path(path)
    return (path.is_file() and (path.parent / "config.json").is_file()
            and not path.with_suffix(".json").is_file() and path.suffix != ".safetensors")


def read_checkpoint(path: Path) -> Checkpoint:
    """A jik876 generator file as a :class:`Checkpoint` with a synthesised card."""
    path = Path(path)
    cfg = read_config(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(f"{path}: not a PyTorch weights file ({first_line(exc)})") from None
    if not isinstance(blob, dict) or "generator" not in blob:
        raise CheckpointError(f"{path}: no 'generator' entry (a jik876 HiFi-GAN generator file "
                              "holds {'generator': state_dict})")
    state = blob["generator"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: 'generator' is not a state dict of tensors")
    return Checkpoint(path=path, state=dict(state), card=read_card(path, cfg))


def read_card(path: Path, cfg: HiFiGANConfig | None = None) -> dict[str, Any]:
    """The card of a jik876 generator, made from the config.json beside it."""
    cfg = cfg or read_config(Path(path))
    return {"family": "hifigan", "config": asdict(cfg),
            "description": f"HiFi-GAN generator (jik876), {cfg.sampling_rate} Hz"}


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(HiFiGANConfig, card)
    return {"capabilities": Capability.VOCODE, "mel": cfg.mel,
            "description": card.get("description", "HiFi-GAN generator")}


def load(ckpt: Checkpoint, device: str) -> HiFiGANBackend:
    cfg = config_from_card(HiFiGANConfig, ckpt.card)
    net = Generator(cfg)
    state = fold_weight_norm(ckpt.state)
    want = set(net.state_dict())
    missing = sorted(want - set(state))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(f"generator lacks {', '.join(missing[:3])}{more}")
    extra = sorted(set(state) - want)
    if extra:
        raise ValueError(f"unexpected keys {', '.join(extra[:3])} (is it a discriminator?)")
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return HiFiGANBackend(net, device)
