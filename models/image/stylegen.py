"""A style-based generator with an encoder into W+: a style autoencoder.

Synthesis (StyleGAN2-like): a learned constant 4x4 input, then two modulated 3x3
convolutions per resolution (4, 8, 16, 32, 64), each with its own style code (one row of
W+), per-pixel noise with a learned per-channel strength, and a to-image 1x1 convolution per
resolution whose outputs are summed upsampled (the "skip" output of StyleGAN2).

Modulated convolution, unfused: the input is scaled by the style, one convolution shared by
the batch runs, and the output is demodulated by the expected norm of the modulated weights.
That is the same function as StyleGAN2's grouped convolution and 5-10x faster on the CPU.

Encoder: a convolutional network to W+ (one code per synthesis layer). Random samples are
"ex-post density estimation" (Ghosh et al., ICLR 2020): a PCA of the encoder's codes of the
training set and a full-covariance Gaussian mixture in that space, stored in the checkpoint;
this is the mapping from a seed to W+. Truncation blends a code toward the mean code.

Layers 0..content_layers-1 (the 4x4 layers) carry the content (which character); the rest
carry the style (which font). Training made it so: see ``models/train/stylegen.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.checkpoints import Checkpoint, load_state
from models.checkpoints import config_from_card as checkpoint_config
from models.protocol import Capability, JobContext, StyleMixRequest, StyleSpec


@dataclass(frozen=True)
class StyleGenConfig:
    """Architecture; stored whole in the model card."""

    image_size: int = 64
    channels: int = 1
    w_dim: int = 64
    width: int = 32             # channels at full resolution, doubling per level down ...
    max_width: int = 128        # ... up to this
    enc_hidden: int = 256
    content_layers: int = 2     # W+ rows 0..content_layers-1 carry content, the rest style
    pca_dim: int = 128          # sampler: PCA dimensions of W+ ...
    mixture: int = 16           # ... and Gaussian components
    chars: str = ""             # characters with a stored content code (glyph models)

    @property
    def levels(self) -> int:
        return int(math.log2(self.image_size // 4)) + 1      # 4, 8, ..., image_size

    @property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(4 * 2**(i // 2) for i in range(2 * self.levels))

    @property
    def layers(self) -> int:
        return 2 * self.levels

    def spec(self) -> StyleSpec:
        """The W+ space as the studio sees it."""
        return StyleSpec(layers=self.layers, w_dim=self.w_dim, resolutions=self.resolutions,
                         content_layers=self.content_layers)

    def channels_at(self, level: int) -> int:
        return min(self.max_width, self.width * 2**(self.levels - 1 - level))


class ModConv(nn.Module):
    """Modulated convolution (unfused), optional demodulation, noise and bias."""

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demod: bool = True,
                 noise: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.affine = nn.Linear(w_dim, cin)      # styles start at 1 +- 1 (StyleGAN2's init)
        nn.init.normal_(self.affine.weight, std=1.0 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros(cout)) if noise else None
        self.demod = demod
        self.pad = k // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None,
                noise_gain: torch.Tensor | float = 1.0) -> torch.Tensor:
        s = self.affine(w)                                   # (B, cin)
        weight = self.weight * self.scale
        y = F.conv2d(x * s[:, :, None, None], weight, padding=self.pad)
        if self.demod:
            wsq = weight.pow(2).sum(dim=(2, 3))              # (cout, cin)
            d = torch.rsqrt(s.pow(2) @ wsq.t() + 1e-8)       # (B, cout)
            y = y * d[:, :, None, None]
        if self.noise_strength is not None and noise is not None:
            y = y + noise * (self.noise_strength[None, :, None, None] * noise_gain)
        return y + self.bias[None, :, None, None]


class Synthesis(nn.Module):
    """W+ codes (B, layers, w_dim) -> image logits (B, C, H, W)."""

    def __init__(self, cfg: StyleGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c0 = cfg.channels_at(0)
        self.const = nn.Parameter(torch.randn(1, c0, 4, 4))
        self.convs = nn.ModuleList()
        self.to_img = nn.ModuleList()
        cin = c0
        for level in range(cfg.levels):
            c = cfg.channels_at(level)
            self.convs.append(ModConv(cin, c, 3, cfg.w_dim))
            self.convs.append(ModConv(c, c, 3, cfg.w_dim))
            self.to_img.append(ModConv(c, cfg.channels, 1, cfg.w_dim, demod=False, noise=False))
            cin = c

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None,
                noise_gain: torch.Tensor | None = None) -> torch.Tensor:
        x = self.const.expand(len(w), -1, -1, -1)
        img = None
        for level in range(self.cfg.levels):
            if level > 0:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            for j in (2 * level, 2 * level + 1):
                n = noise[j] if noise is not None else None
                g = noise_gain[:, j, None, None, None] if noise_gain is not None else 1.0
                x = F.leaky_relu(self.convs[j](x, w[:, j], n, g), 0.2) * math.sqrt(2)
            y = self.to_img[level](x, w[:, 2 * level + 1])
            img = y if img is None else F.interpolate(
                img, scale_factor=2, mode="bilinear", align_corners=False) + y
        return img


class Encoder(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> W+ codes (B, layers, w_dim)."""

    def __init__(self, cfg: StyleGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        top = cfg.levels - 1
        c = cfg.channels_at(top)
        blocks: list[nn.Module] = [nn.Conv2d(cfg.channels, c, 3, padding=1), nn.SiLU()]
        for level in range(top, 0, -1):
            c2 = cfg.channels_at(level - 1)
            blocks += [nn.Conv2d(c, c2, 4, stride=2, padding=1), nn.SiLU(),
                       nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU()]
            c = c2
        self.body = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, cfg.enc_hidden), nn.SiLU(),
                                  nn.Linear(cfg.enc_hidden, cfg.layers * cfg.w_dim))
        for m in self.modules():     # He init: PyTorch's default shrinks 9 layers deep to ~0
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.head(self.body(x * 2 - 1)).view(-1, self.cfg.layers, self.cfg.w_dim)
        # Each row at unit RMS (StyleGAN's pixel norm): code distances keep one scale.
        return w * torch.rsqrt(w.float().pow(2).mean(-1, keepdim=True) + 1e-8).to(w.dtype)


class StyleAutoencoder(nn.Module):
    """Encoder, synthesis and the fitted sampler (buffers) of one checkpoint."""

    def __init__(self, cfg: StyleGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.synthesis = Synthesis(cfg)
        d = cfg.layers * cfg.w_dim
        k, m = cfg.pca_dim, cfg.mixture
        self.register_buffer("code_mean", torch.zeros(cfg.layers, cfg.w_dim))
        self.register_buffer("pca_components", torch.zeros(k, d))
        self.register_buffer("gmm_weights", torch.full((m,), 1.0 / m))
        self.register_buffer("gmm_means", torch.zeros(m, k))
        self.register_buffer("gmm_chol", torch.eye(k).repeat(m, 1, 1))
        # Per character: its content rows averaged over the training fonts ("write in
        # this style" needs no font of the user's to draw a character).
        self.register_buffer("char_content",
                             torch.zeros(len(cfg.chars), cfg.content_layers, cfg.w_dim))
        # ... and its style rows averaged over the training fonts: what a style code owes to
        # its character rather than its font (subtracted to move a style to another char).
        self.register_buffer("char_style", torch.zeros(
            len(cfg.chars), cfg.layers - cfg.content_layers, cfg.w_dim))

    def noise(self, n: int, seed: int | None, device: Any) -> list[torch.Tensor] | None:
        """Per-layer noise maps drawn from ``seed`` on the CPU (the same on every device)."""
        if seed is None:
            return None
        g = torch.Generator().manual_seed(int(seed))
        return [torch.randn(n, 1, r, r, generator=g).to(device)
                for r in self.cfg.resolutions]

    @torch.no_grad()
    def sample_codes(self, seeds: list[int]) -> torch.Tensor:
        """W+ codes (N, layers, w_dim): one draw of the mixture per seed, on the CPU."""
        out = []
        weights = self.gmm_weights.double().cpu()
        means, chol = self.gmm_means.double().cpu(), self.gmm_chol.double().cpu()
        comps = self.pca_components.double().cpu()
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            j = int(torch.multinomial(weights, 1, generator=g))
            z = torch.randn(self.cfg.pca_dim, generator=g, dtype=torch.float64)
            p = means[j] + chol[j] @ z
            out.append(p @ comps)
        flat = torch.stack(out).float().view(-1, self.cfg.layers, self.cfg.w_dim)
        return flat + self.code_mean.float().cpu()


def truncate(codes: torch.Tensor, mean: torch.Tensor, psi: float, cutoff: int | None
             ) -> torch.Tensor:
    """Blend codes (B, layers, w_dim) toward ``mean`` by ``psi`` in layers below ``cutoff``."""
    if psi == 1.0:
        return codes
    layers = codes.shape[1] if cutoff is None else max(0, min(int(cutoff), codes.shape[1]))
    out = codes.clone()
    out[:, :layers] = mean[None, :layers] + psi * (codes[:, :layers] - mean[None, :layers])
    return out


class StyleGenBackend:
    """Style mixing (Capability.STYLE_MIX) and a latent space (flattened W+); numpy in/out."""

    info: Any = None

    def __init__(self, net: StyleAutoencoder, device: str = "cpu", batch: int = 64) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.batch = batch
        self.cfg = net.cfg

    # -- style-mixing API ---------------------------------------------------------------------
    @property
    def content_layers(self) -> tuple[int, ...]:
        return tuple(range(self.cfg.content_layers))

    @property
    def style_layers(self) -> tuple[int, ...]:
        return tuple(range(self.cfg.content_layers, self.cfg.layers))

    def _images(self, images: np.ndarray) -> torch.Tensor:
        x = np.asarray(images, dtype=np.float32)
        want = (self.cfg.image_size, self.cfg.image_size, self.cfg.channels)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"expected images (N, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {tuple(x.shape)}")
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    @torch.inference_mode()
    def encode_codes(self, images: np.ndarray, *, ctx: JobContext | None = None
                     ) -> np.ndarray:
        """W+ codes (N, layers, w_dim) of pictures (N, H, W, C) in [0, 1]."""
        x = self._images(images)
        out = []
        for i in range(0, len(x), self.batch):
            if ctx is not None:
                ctx.report(i / max(len(x), 1))
            out.append(self.net.encoder(x[i:i + self.batch].to(self.device)).float().cpu())
        if not out:
            return np.zeros((0, self.cfg.layers, self.cfg.w_dim), np.float32)
        return np.ascontiguousarray(torch.cat(out).numpy(), dtype=np.float32)

    def learned_noise(self) -> tuple[float, ...]:
        """Mean absolute noise strength each layer learned (the scale of its noise input)."""
        return tuple(float(c.noise_strength.detach().abs().mean())
                     for c in self.net.synthesis.convs)

    def codes_from_seeds(self, seeds: list[int], label: int | None = None) -> np.ndarray:
        """W+ codes (N, layers, w_dim) of seeds, drawn from the fitted mixture (an
        unconditional model: ``label`` is ignored)."""
        return np.ascontiguousarray(self.net.sample_codes(list(seeds)).numpy(), np.float32)

    def mean_code(self) -> np.ndarray:
        """The mean code (layers, w_dim) of the training set, that truncation blends toward."""
        return np.ascontiguousarray(self.net.code_mean.float().cpu().numpy())

    @property
    def chars(self) -> str:
        """Characters this model can write from its stored content codes."""
        return self.cfg.chars

    def content_codes(self, text: str) -> np.ndarray:
        """The stored content rows (len(text), content_layers, w_dim) of each character;
        ValueError names characters it does not know."""
        missing = sorted({ch for ch in text if ch not in self.cfg.chars})
        if missing:
            known = self.cfg.chars or "none"
            raise ValueError(f"this model cannot write {' '.join(missing)!r} "
                             f"(it knows {known})")
        idx = [self.cfg.chars.index(ch) for ch in text]
        return np.ascontiguousarray(self.net.char_content[idx].float().cpu().numpy())

    def identify(self, codes: np.ndarray) -> np.ndarray:
        """The character (index into ``chars``) each code's content rows are nearest to (by
        cosine, among the stored per-character content codes); (N,) int."""
        if not self.cfg.chars:
            raise ValueError("this model stores no characters")
        k = self.cfg.content_layers
        a = np.asarray(codes, np.float32)[:, :k].reshape(len(codes), -1)
        p = self.net.char_content.float().cpu().numpy().reshape(len(self.cfg.chars), -1)
        a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-8)
        p = p / (np.linalg.norm(p, axis=1, keepdims=True) + 1e-8)
        return np.argmax(a @ p.T, axis=1)

    def style_of(self, images: np.ndarray) -> np.ndarray:
        """The style of ``images`` (glyphs of one font), (layers - content_layers, w_dim):
        their style rows averaged, each less its character's mean over the training fonts
        when the model stores characters, so what is left is the font."""
        return self.style_of_codes(self.encode_codes(images))

    def style_of_codes(self, codes: np.ndarray) -> np.ndarray:
        k = self.cfg.content_layers
        rows = np.asarray(codes, np.float32)[:, k:]
        if self.cfg.chars:
            rows = rows - self.net.char_style.float().cpu().numpy()[self.identify(codes)]
        return np.ascontiguousarray(rows.mean(0))

    def with_style(self, content: np.ndarray, style: np.ndarray, strength: float = 1.0,
                   chars: np.ndarray | None = None) -> np.ndarray:
        """W+ codes (N, layers, w_dim): the content rows of ``content`` (N, layers, w_dim)
        with the style rows of ``style`` (from :meth:`style_of`) added to the content
        character's mean style rows; ``strength`` scales the style (0: the mean font).
        ``chars`` gives the characters when known (else they are identified)."""
        k = self.cfg.content_layers
        out = np.array(content, np.float32, copy=True)
        base = 0.0
        if self.cfg.chars:
            idx = self.identify(content) if chars is None else np.asarray(chars)
            base = self.net.char_style.float().cpu().numpy()[idx]
        out[:, k:] = base + float(strength) * np.asarray(style, np.float32)[None]
        return out

    def text_codes(self, text: str, style: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """W+ codes of each character of ``text`` (no spaces) in ``style``."""
        content = self.content_codes(text)
        codes = np.zeros((len(text), self.cfg.layers, self.cfg.w_dim), np.float32)
        codes[:, :self.cfg.content_layers] = content
        idx = np.array([self.cfg.chars.index(ch) for ch in text])
        return self.with_style(codes, style, strength, chars=idx)

    @torch.inference_mode()
    def synthesize(self, requests: list[StyleMixRequest], *, ctx: JobContext | None = None
                   ) -> np.ndarray:
        """Images (N, H, W, C) in [0, 1] of mixed codes, one per request."""
        mean = self.net.code_mean.float()
        out = []
        for i in range(0, len(requests), self.batch):
            if ctx is not None:
                ctx.report(i / max(len(requests), 1))
            chunk = requests[i:i + self.batch]
            w = torch.stack([truncate(torch.from_numpy(r.mixed())[None], mean.cpu(), r.psi,
                                      r.cutoff)[0] for r in chunk])
            noise, gain = self._noise(chunk)
            logits = self.net.synthesis(w.to(self.device), noise, gain)
            out.append(torch.sigmoid(logits).float().cpu())
        img = torch.cat(out).permute(0, 2, 3, 1) if out else torch.zeros(
            0, self.cfg.image_size, self.cfg.image_size, self.cfg.channels)
        return np.ascontiguousarray(img.numpy(), dtype=np.float32)

    def _noise(self, chunk: list[StyleMixRequest]):
        """Noise maps (per layer, (B, 1, r, r)) and gains (B, layers) of a batch of requests;
        a request without a noise seed gets gain 0."""
        layers = self.cfg.layers
        maps = [torch.zeros(len(chunk), 1, r, r) for r in self.cfg.resolutions]
        gain = torch.zeros(len(chunk), layers)
        for b, r in enumerate(chunk):
            if r.noise_seed is None:
                continue
            one = self.net.noise(1, r.noise_seed, "cpu")
            for j in range(layers):
                maps[j][b] = one[j][0]
            strengths = r.noise_strength or (1.0,) * layers
            gain[b] = torch.tensor([float(strengths[j]) if j < len(strengths) else 1.0
                                    for j in range(layers)])
        return [m.to(self.device) for m in maps], gain.to(self.device)

    # -- latent API (the Latent Explorer's view: flattened W+) ---------------------------------
    def encode(self, images: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        codes = self.encode_codes(images, ctx=ctx)
        return np.ascontiguousarray(codes.reshape(len(codes), -1))

    def decode(self, latents: np.ndarray, *, ctx: JobContext | None = None) -> np.ndarray:
        z = np.asarray(latents, dtype=np.float32)
        size = self.cfg.layers * self.cfg.w_dim
        if z.ndim != 2 or z.shape[1] != size:
            raise ValueError(f"expected latents (N, {size}), got {tuple(z.shape)}")
        codes = z.reshape(len(z), self.cfg.layers, self.cfg.w_dim)
        reqs = [StyleMixRequest(c, c, (), noise_seed=None) for c in codes]
        return self.synthesize(reqs, ctx=ctx)

    def sample_latents(self, n: int, seed: int) -> np.ndarray:
        seeds = [int(seed) * 1_000_003 + i for i in range(n)]
        return self.codes_from_seeds(seeds).reshape(n, -1)


def config_from_card(card: dict[str, Any]) -> StyleGenConfig:
    return checkpoint_config(StyleGenConfig, card)


def config_to_card(cfg: StyleGenConfig) -> dict[str, Any]:
    return asdict(cfg)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(card)
    return {
        "capabilities": Capability.STYLE_MIX | Capability.LATENT | Capability.SAMPLE,
        "image_shape": (cfg.image_size, cfg.image_size, cfg.channels),
        "latent_size": cfg.layers * cfg.w_dim,
        "style": cfg.spec(),
        "description": card.get("description",
                                f"style generator {cfg.image_size}px, W+ {cfg.layers}x"
                                f"{cfg.w_dim}"),
    }


def load(ckpt: Checkpoint, device: str) -> StyleGenBackend:
    net = StyleAutoencoder(config_from_card(ckpt.card))
    load_state(net, ckpt.state)
    return StyleGenBackend(net, device)
