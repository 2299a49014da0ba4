"""Users' Vocos vocoders (charactr's Vocos: a folder with ``config.yaml`` and
``pytorch_model.bin``, as ``charactr/vocos-mel-24khz`` ships), run by the ``vocos`` package.

The package's own loader (``Vocos.from_hparams``) imports whatever ``class_path`` the YAML
names and calls it: a YAML file could run any function. Here the YAML is parsed with
``yaml.safe_load`` and only the package's own mel vocoder parts are built, by us, from their
``init_args`` (numbers and strings): MelSpectrogramFeatures, VocosBackbone, ISTFTHead.
Anything else is refused by name (EnCodec features need the EnCodec model, which is fetched
from the hub: not offline). The weights are read with ``weights_only=True``.

Vocos analyses audio its own way (torchaudio's HTK-scale mel without normalisation, frames
centred or "same"-padded, ``ln(max(mel, 1e-7))``): MelSettings says so with
``convention="vocos"``, so its mels are never taken for another vocoder's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import (
    Checkpoint,
    CheckpointError,
    first_line,
    load_state,
    torch_load_weights,
)
from models.protocol import BackendInfo, Capability, JobContext, MelSettings

FAMILY = "vocos-package"
CONFIG, WEIGHTS = "config.yaml", "pytorch_model.bin"
PARTS = {  # config section -> the one class allowed there
    "feature_extractor": "vocos.feature_extractors.MelSpectrogramFeatures",
    "backbone": "vocos.models.VocosBackbone",
    "head": "vocos.heads.ISTFTHead",
}
SCALARS = (int, float, str, bool, type(None))


def folder_of(path: Path) -> Path | None:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if (folder / CONFIG).is_file() and (folder / WEIGHTS).is_file():
        return folder
    return None


def sniff(path: Path) -> bool:
    return folder_of(path) is not None


def read_config(folder: Path) -> dict[str, dict[str, Any]]:
    """The YAML's three parts as {section: init_args}, every class checked against PARTS."""
    import yaml

    cpath = folder / CONFIG
    try:
        raw = yaml.safe_load(cpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{cpath}: not a readable YAML config ({first_line(exc)})"
                              ) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{cpath}: a Vocos config must be a mapping")
    out = {}
    for section, allowed in PARTS.items():
        part = raw.get(section)
        if not isinstance(part, dict) or "class_path" not in part:
            raise CheckpointError(f"{cpath}: no '{section}' with a class_path")
        if part["class_path"] != allowed:
            why = (" (EnCodec features need the EnCodec model from the hub; only mel Vocos "
                   "models open offline)" if "Encodec" in str(part["class_path"]) else "")
            raise CheckpointError(f"{cpath}: refused: {section} asks for "
                                  f"'{part['class_path']}'; only {allowed} is built{why}")
        args = part.get("init_args") or {}
        if not isinstance(args, dict) or not all(isinstance(v, SCALARS) for v in args.values()):
            raise CheckpointError(f"{cpath}: {section}'s init_args must be plain values")
        out[section] = dict(args)
    return out


def mel_settings(cfg: dict[str, dict[str, Any]]) -> MelSettings:
    fe = cfg["feature_extractor"]
    rate, n_fft = int(fe.get("sample_rate", 24000)), int(fe.get("n_fft", 1024))
    return MelSettings(rate, n_fft, int(fe.get("hop_length", 256)), n_fft,
                       int(fe.get("n_mels", 100)), 0.0, rate / 2, convention="vocos")


def read_card(path: Path) -> dict[str, Any]:
    folder = folder_of(path)
    if folder is None:
        raise CheckpointError(f"{path}: not a Vocos folder ({CONFIG} and {WEIGHTS})")
    cfg = read_config(folder)
    m = mel_settings(cfg)
    return {"family": FAMILY, "config": cfg, "path": str(folder),
            "description": f"Vocos vocoder '{folder.name}', {m.sample_rate} Hz, {m.n_mels} "
                           f"mels, hop {m.hop}"}


def read_checkpoint(path: Path) -> Checkpoint:
    import torch

    card = read_card(path)
    folder = Path(card["path"])
    state = torch_load_weights(folder / WEIGHTS)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{folder / WEIGHTS}: not a state dict of tensors")
    return Checkpoint(path=folder, state=dict(state), card=card)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    return {"capabilities": Capability.VOCODE, "mel": mel_settings(card["config"]),
            "description": card.get("description", "Vocos vocoder")}


def build(cfg: dict[str, dict[str, Any]]) -> Any:
    """The package's Vocos of a checked config (no import by name)."""
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    return Vocos(feature_extractor=MelSpectrogramFeatures(**cfg["feature_extractor"]),
                 backbone=VocosBackbone(**cfg["backbone"]), head=ISTFTHead(**cfg["head"]))


class VocosPackageBackend:
    info: BackendInfo

    def __init__(self, net: Any, cfg: dict[str, dict[str, Any]], device: str) -> None:
        self.net = net.to(device).eval()
        self.settings = mel_settings(cfg)
        self.device = device

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(audio, np.float32))[None].to(self.device)
        with torch.inference_mode():
            return self.net.feature_extractor(x)[0].float().cpu().numpy()

    def vocode(self, mel: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        """Audio of ``T`` frames: ``T * hop`` samples (the package gives one hop fewer for
        centred frames; the end is padded with silence)."""
        import torch

        ctx = ctx or JobContext()
        ctx.report(0.0)
        mel = np.ascontiguousarray(mel, np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.settings.n_mels:
            raise ValueError(f"a mel of {self.settings.n_mels} bands is needed, got shape "
                             f"{mel.shape}")
        with torch.inference_mode():
            y = self.net.decode(torch.from_numpy(mel)[None].to(self.device))[0]
        y = y.float().cpu().numpy()
        want = mel.shape[1] * self.settings.hop
        out = np.zeros(want, np.float32)
        out[:min(want, len(y))] = y[:want]
        ctx.report(1.0)
        return out


def load(ckpt: Checkpoint, device: str, **_options: Any) -> VocosPackageBackend:
    cfg = ckpt.card["config"]
    try:
        net = build(cfg)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: the Vocos config does not build "
                              f"({first_line(exc)})") from None
    load_state(net, ckpt.state)
    return VocosPackageBackend(net, cfg, device)
