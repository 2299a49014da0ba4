"""StyleGAN2 generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", with the ADA paper's configuration), written for the studio from the papers.

Clean-room: NVIDIA's code is under a non-commercial licence; it was read and run in a scratch
folder to make reference numbers (tests/data/stylegan2-reference.json), never copied. The
module tree and its parameter names follow the published network pickles
(``mapping.fc0.weight``, ``synthesis.b8.conv0.affine.bias``, ...) so that their weights load
one to one; the computation follows the paper:

* mapping: 2nd-moment normalised z (and an embedded class), fully connected layers with
  equalised learning rate (gain ``lr_multiplier / sqrt(fan_in)``) and leaky ReLU, the
  tracked mean ``w_avg`` that truncation blends toward;
* synthesis: a learned 4x4 constant, per block two 3x3 modulated convolutions (styles from an
  affine map of w, weight demodulation, per-pixel noise scaled by a learned strength, bias,
  leaky ReLU times sqrt(2), optional clamp) with the first upsampling by 2 (transposed
  convolution then a [1, 3, 3, 1] low-pass FIR), and RGB outputs summed across resolutions
  ("skip"), a residual path ("resnet") or only at the end ("orig").

Everything runs in float32 (the pickles' float16 layers are a GPU speed setting).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)


# -- the operations ----------------------------------------------------------------------------

def fir_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The 2-D low-pass filter of a 1-D kernel: outer product, normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _pad4(padding: int | tuple[int, int, int, int]) -> list[int]:
    if isinstance(padding, int):
        return [padding] * 4
    return [int(p) for p in padding]


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: int | tuple[int, int, int, int] = 0, gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (or crop: negative), convolve with the FIR ``f``
    (2-D; 1-D: separable, rows then columns; None: identity; a true convolution, the filter
    flipped), keep every ``down``-th pixel. ``padding`` is (x0, x1, y0, y1)."""
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    k = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    k = k[None, None].repeat([c, 1] + [1] * f.ndim)
    if f.ndim == 2:
        x = F.conv2d(x, k, groups=c)
    else:
        x = F.conv2d(x, k.unsqueeze(2), groups=c)
        x = F.conv2d(x, k.unsqueeze(3), groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with the FIR ``f`` (output exactly ``up`` times larger)."""
    fh, fw = f.shape
    pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: Any = 0,
          groups: int = 1, transpose: bool = False, flip: bool = False) -> torch.Tensor:
    if flip and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None,
                    up: int = 1, padding: int = 0, groups: int = 1,
                    flip: bool = False) -> torch.Tensor:
    """A convolution with weights ``w`` (out, in/groups, kh, kw), upsampled by ``up`` (1 or
    2) with the FIR ``f`` as the paper does it: a strided transposed convolution, then the
    low-pass filter. ``flip`` flips the kernel (a convolution rather than a correlation)."""
    out_ch, in_per_group, kh, kw = w.shape
    px0 = px1 = py0 = py1 = padding
    if up == 1:
        return _conv(x, w, padding=padding, groups=groups, flip=flip)
    assert f is not None
    fh, fw = f.shape
    px0 += (fw + up - 1) // 2
    px1 += (fw - up) // 2
    py0 += (fh + up - 1) // 2
    py1 += (fh - up) // 2
    if kw == 1 and kh == 1:                      # a 1x1 convolution, then upsample
        x = _conv(x, w, groups=groups, flip=flip)
        return upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up * up)
    if groups == 1:
        w = w.transpose(0, 1)
    else:
        w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    px0 -= kw - 1
    px1 -= kw - up
    py0 -= kh - 1
    py1 -= kh - up
    pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
    x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True,
              flip=not flip)
    return upfirdn2d(x, f, padding=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt),
                     gain=up * up)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, lrelu: bool, gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Add a per-channel bias, apply leaky ReLU (slope 0.2) or nothing, scale, clamp."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: torch.Tensor | None = None, up: int = 1, padding: int = 0,
                     f: torch.Tensor | None = None, demodulate: bool = True,
                     flip: bool = False) -> torch.Tensor:
    """Each sample's weights scaled by its styles per input channel and, with
    ``demodulate``, renormalised per output channel; one grouped convolution for the batch."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * d.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(-1, in_ch, kh, kw), f, up=up, padding=padding,
                        groups=n, flip=flip)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


# -- the layers --------------------------------------------------------------------------------

class FullyConnected(nn.Module):
    """Equalised learning rate: weights stored unit-scaled, multiplied at run time."""

    def __init__(self, cin: int, cout: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([cout], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(cin)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if not self.lrelu:
            return torch.addmm(b[None], x, w.t())
        return bias_act(x.matmul(w.t()), b, True, SQRT2)


class Mapping(nn.Module):
    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 lr_multiplier: float = 0.01, **_ignored: Any) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        embed = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer = w_dim if layer_features is None else layer_features
        sizes = [z_dim + embed] + [layer] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnected(c_dim, embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(sizes[i], sizes[i + 1], lrelu=True,
                                                    lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, psi: float = 1.0,
                cutoff: int | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z.float()) if self.z_dim else None
        if self.c_dim:
            y = normalize_2nd_moment(self.embed(c.float()))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x[:, None].repeat(1, self.num_ws, 1)
        if psi != 1:
            x = truncate(x, self.w_avg, psi, cutoff)
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None
             ) -> torch.Tensor:
    """Blend the first ``cutoff`` rows (all when None) of W+ toward ``w_avg``."""
    ws = ws.clone()
    k = ws.shape[1] if cutoff is None else int(cutoff)
    ws[:, :k] = w_avg.lerp(ws[:, :k], psi)
    return ws


class SynthesisLayer(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, kernel_size: int = 3,
                 use_noise: bool = True) -> None:
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", fir_filter())
        self.affine = FullyConnected(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel_size, kernel_size))
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str | torch.Tensor = "const",
                gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        n = None
        if self.use_noise:
            if isinstance(noise, torch.Tensor):          # (N, 1, res, res), unit variance
                n = noise * self.noise_strength
            elif noise == "const":
                n = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, n, up=self.up, padding=self.padding,
                             f=self.resample_filter, flip=self.up != 1)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, True, SQRT2 * gain, clamp)


class ToRGB(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, conv_clamp: float | None = None
                 ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_gain = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, False, 1.0, self.conv_clamp)


class Conv2dLayer(nn.Module):
    """The residual path's 1x1 upsampling convolution (no bias)."""

    def __init__(self, cin: int, cout: int, up: int = 2) -> None:
        super().__init__()
        self.up = up
        self.register_buffer("resample_filter", fir_filter())
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.weight_gain = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = conv2d_resample(x, self.weight * self.weight_gain, self.resample_filter,
                            up=self.up, flip=self.up != 1)
        return x * gain if gain != 1 else x


class SynthesisBlock(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", conv_clamp: float | None = None,
                 **_ignored: Any) -> None:
        super().__init__()
        self.cin, self.resolution, self.is_last = cin, resolution, is_last
        self.architecture = architecture
        self.register_buffer("resample_filter", fir_filter())
        self.num_conv = self.num_torgb = 0
        if cin == 0:
            self.const = nn.Parameter(torch.randn(cout, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=2,
                                        conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGB(cout, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if cin != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(cin, cout)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        w = iter(ws.unbind(1))
        nz = iter(noise)
        if self.cin == 0:
            x = self.const[None].repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w), next(nz))
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w), next(nz))
            x = self.conv1(x, next(w), next(nz), gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w), next(nz))
            x = self.conv1(x, next(w), next(nz))
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w))
            img = img + y if img is not None else y
        return x, img


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512, **block_kwargs: Any
                 ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        if 2 ** log2 != img_resolution or img_resolution < 4:
            raise ValueError(f"img_resolution {img_resolution} is not a power of two >= 4")
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        block_kwargs = {k: v for k, v in block_kwargs.items()
                        if k in ("architecture", "conv_clamp")}
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels,
                                   r == img_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if r == img_resolution else 0)
            setattr(self, f"b{r}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def layer_resolutions(self) -> tuple[int, ...]:
        """The output side of each W+ row (the last row is the final ToRGB's)."""
        out: list[int] = []
        for b in self.blocks():
            out += [b.resolution] * b.num_conv
        return tuple(out + [self.img_resolution])[:self.num_ws]

    def noise_layers(self) -> list[tuple[int, int]]:
        """(block index, resolution) of every noise input, in order."""
        return [(i, b.resolution) for i, b in enumerate(self.blocks())
                for _ in range(b.num_conv)]

    def forward(self, ws: torch.Tensor, noise: list[Any] | str = "const") -> torch.Tensor:
        """Images (N, C, H, W), about [-1, 1], of W+ codes (N, num_ws, w_dim). ``noise``:
        "const" (the pickle's fixed noise), "none", or one tensor per noise input."""
        layers = sum(b.num_conv for b in self.blocks())
        noise = [noise] * layers if isinstance(noise, str) else list(noise)
        x = img = None
        k = 0
        for b in self.blocks():
            x, img = b(x, img, ws[:, k:k + b.num_conv + b.num_torgb],
                       noise[:b.num_conv])
            noise = noise[b.num_conv:]
            k += b.num_conv
        return img


class Generator(nn.Module):
    """Built from a pickle's own init kwargs (never from constants)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
                 img_channels: int, mapping_kwargs: dict | None = None,
                 synthesis_kwargs: dict | None = None, **_ignored: Any) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = Synthesis(w_dim, img_resolution, img_channels,
                                   **dict(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = Mapping(z_dim, c_dim, w_dim, self.num_ws, **dict(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, noise: Any = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, psi, cutoff), noise)
