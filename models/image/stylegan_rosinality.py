"""rosinality's stylegan2-pytorch checkpoints (``.pt``: ``{'g_ema': state_dict, 'args':
Namespace, ...}``) run by the studio's StyleGAN2 (:mod:`models.image.stylegan2`).

The file is read with ``torch.load(weights_only=True)``, allowing only the
``argparse.Namespace`` of its training arguments. rosinality's generator is StyleGAN2's
"skip" configuration under other names; its weights are renamed and reshaped onto ours
(``style.N`` -> ``mapping.fc{N-1}``, ``convs.2j`` / ``convs.2j+1`` / ``to_rgbs.j`` -> the
block at ``2^(j+3)`` px, the stored noises -> each layer's fixed noise), with the equalised
learning-rate scale of its 3x3 convolutions folded into the weights so the demodulation
computes the same numbers. The architecture is read from the weights' shapes (resolution,
channels per resolution, mapping depth), the training arguments only confirm it.
Truncation blends toward the file's ``latent_avg`` when it has one, else toward the mean of
the mapping over 4096 seeded z (rosinality's ``mean_latent(4096)``).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from models.checkpoints import Checkpoint, CheckpointError, load_state, torch_load_weights
from models.image import sd
from models.image.stylegan_pkl import StyleGAN2Backend, _config_rows
from models.protocol import Capability, StyleSpec

FAMILY = "stylegan2-rosinality"
MEAN_SAMPLES = 4096


def sniff(path: Path) -> bool:
    path = Path(path)
    if path.suffix.lower() not in (".pt", ".pth") or not path.is_file():
        return False
    pkl = sd._ckpt_pickle(path)
    return pkl is not None and b"g_ema" in pkl and b"to_rgbs." in pkl


def _state(path: Path) -> tuple[dict[str, Any], dict[str, Any], Any]:
    blob = torch_load_weights(path, [argparse.Namespace], mmap=True)
    if not isinstance(blob, dict) or not isinstance(blob.get("g_ema"), dict):
        raise CheckpointError(f"{path}: no 'g_ema' state dict (a rosinality checkpoint holds "
                              "{'g_ema': ..., 'args': ...})")
    args = blob.get("args")
    return blob["g_ema"], vars(args) if isinstance(args, argparse.Namespace) else {}, \
        blob.get("latent_avg")


def architecture(path: Path, g: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Our Generator's init kwargs, from the weights' shapes."""
    try:
        style_dim = int(g["style.1.weight"].shape[1])
        n_mlp = len([k for k in g if re.fullmatch(r"style\.\d+\.weight", k)])
        n_rgb = len([k for k in g if re.fullmatch(r"to_rgbs\.\d+\.bias", k)])
        size = 2 ** (n_rgb + 2)
        channels = {4: int(g["input.input"].shape[1])}
        for j in range(n_rgb):
            channels[2 ** (j + 3)] = int(g[f"convs.{2 * j}.conv.weight"].shape[1])
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a rosinality StyleGAN2 generator (no {exc})"
                              ) from None
    cmax, base = channels[4], channels[size] * size
    if any(min(base // r, cmax) != c for r, c in channels.items()):
        raise CheckpointError(f"{path}: channels per resolution {channels} are not "
                              "StyleGAN2's (min(base / resolution, max))")
    if args.get("size") not in (None, size):
        raise CheckpointError(f"{path}: its arguments say {args['size']} px, its weights "
                              f"{size} px")
    return {"z_dim": style_dim, "c_dim": 0, "w_dim": style_dim, "img_resolution": size,
            "img_channels": 3,
            "mapping_kwargs": {"num_layers": n_mlp,
                               "lr_multiplier": float(args.get("lr_mlp", 0.01) or 0.01)},
            "synthesis_kwargs": {"channel_base": base, "channel_max": cmax,
                                 "architecture": "skip", "conv_clamp": None}}


def convert(g: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """rosinality's g_ema weights under our names and shapes."""
    out: dict[str, Any] = {}
    n_mlp = kw["mapping_kwargs"]["num_layers"]
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = g[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = g[f"style.{i + 1}.bias"]
    out["synthesis.b4.const"] = g["input.input"][0]

    def styled(src: str, dst: str, noise: str) -> None:
        w = g[f"{src}.conv.weight"][0]
        out[f"{dst}.weight"] = w / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])
        out[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = g[f"{src}.noise.weight"].reshape(())
        out[f"{dst}.bias"] = g[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = g[f"noises.{noise}"].reshape(g[f"noises.{noise}"].shape[-2:])

    def rgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = g[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = g[f"{src}.bias"].reshape(-1)

    # The low-pass filter: rosinality's blur kernel (stored times the upsampling gain),
    # normalised as ours is; every layer and block of ours keeps one.
    from models.image.stylegan2 import fir_filter

    k = g.get("to_rgbs.0.upsample.kernel", g.get("convs.0.conv.blur.kernel"))
    f = (k / k.sum()).float() if k is not None else fir_filter()
    res = kw["img_resolution"]
    for r in (2 ** i for i in range(2, int(math.log2(res)) + 1)):
        out[f"synthesis.b{r}.resample_filter"] = f
        for layer in ("conv0", "conv1") if r > 4 else ("conv1",):
            out[f"synthesis.b{r}.{layer}.resample_filter"] = f
    styled("conv1", "synthesis.b4.conv1", "noise_0")
    rgb("to_rgb1", "synthesis.b4.torgb")
    for j in range(int(math.log2(res)) - 2):
        b = f"synthesis.b{2 ** (j + 3)}"
        styled(f"convs.{2 * j}", f"{b}.conv0", f"noise_{2 * j + 1}")
        styled(f"convs.{2 * j + 1}", f"{b}.conv1", f"noise_{2 * j + 2}")
        rgb(f"to_rgbs.{j}", f"{b}.torgb")
    return out


def read_checkpoint(path: Path) -> Checkpoint:
    import torch

    path = Path(path)
    g, args, latent_avg = _state(path)
    kw = architecture(path, g, args)
    try:
        state = convert(g, kw)
    except KeyError as exc:
        raise CheckpointError(f"{path}: the generator lacks {exc}") from None
    if isinstance(latent_avg, torch.Tensor) and latent_avg.numel() == kw["w_dim"]:
        state["mapping.w_avg"] = latent_avg.reshape(-1).float()
    num_ws, rows = _config_rows(kw["img_resolution"])
    cfg = {"arch": "stylegan2", "network": "g_ema", "init_kwargs": kw, "num_ws": num_ws,
           "layer_resolutions": rows,
           "w_avg": "latent_avg" if "mapping.w_avg" in state else "mean of 4096 seeded z"}
    card = {"family": FAMILY, "config": cfg,
            "description": f"StyleGAN2 (rosinality) '{path.stem}': {kw['img_resolution']} px, "
                           f"{num_ws} W+ rows of {kw['w_dim']}, "
                           f"{kw['mapping_kwargs']['num_layers']} mapping layers"}
    return Checkpoint(path=path, state=state, card=card)


def read_card(path: Path) -> dict[str, Any]:
    return read_checkpoint(path).card


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = card["config"]
    kw = cfg["init_kwargs"]
    res = int(kw["img_resolution"])
    return {"capabilities": Capability.STYLE_MIX | Capability.LATENT | Capability.SAMPLE,
            "image_shape": (res, res, 3), "latent_size": int(cfg["num_ws"]) * int(kw["w_dim"]),
            "style": StyleSpec(layers=int(cfg["num_ws"]), w_dim=int(kw["w_dim"]),
                               resolutions=tuple(cfg["layer_resolutions"])),
            "description": card.get("description", "StyleGAN2 (rosinality)")}


def load(ckpt: Checkpoint, device: str, **_options: Any) -> StyleGAN2Backend:
    import torch

    from models.image.stylegan2 import Generator

    net = Generator(**ckpt.card["config"]["init_kwargs"])
    state = dict(ckpt.state)
    mean = "mapping.w_avg" not in state
    if mean:
        state["mapping.w_avg"] = torch.zeros(net.w_dim)
    load_state(net, state)
    if mean:
        with torch.inference_mode():
            z = torch.randn(MEAN_SAMPLES, net.z_dim, generator=torch.Generator().manual_seed(0))
            net.mapping.w_avg.copy_(net.mapping(z, None)[:, 0].mean(0))
    return StyleGAN2Backend(net, device)
