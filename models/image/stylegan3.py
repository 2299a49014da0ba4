"""StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"),
configurations T (3x3 convolutions) and R (1x1 convolutions, radially symmetric downsampling
filters), written for the studio from the paper.

Clean-room: NVIDIA's code is under a non-commercial licence; it was read and run in a scratch
folder for reference numbers (tests/data/stylegan3-reference.md), never copied. Parameter and
buffer names follow the published pickles (``synthesis.input.freqs``,
``synthesis.L3_52_512.up_filter``, ...) so their weights load one to one; the computation is
the paper's:

* the input: Fourier features of a fixed set of frequencies and phases, rotated and
  translated by an affine map of the first w, out-of-band frequencies faded, then mixed by a
  learned matrix;
* each layer: a modulated convolution (weights and styles first normalised by their RMS,
  demodulated, inputs scaled by the inverse RMS of what the layer saw in training), then the
  alias-free nonlinearity: bias, upsampling by zero insertion and a windowed-sinc low-pass
  filter, leaky ReLU (times sqrt 2, clamped), low-pass filter and downsampling; layer sizes,
  sampling rates, cutoffs and transition bands follow the paper's geometric schedule;
* the ToRGB layer: a 1x1 modulated convolution without demodulation, and an output scale.

The filters themselves come from the pickle's buffers (designed with ``scipy.signal.firwin``
or the radial jinc when building without one).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.image.stylegan2 import FullyConnected, Mapping, upfirdn2d


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None,
                   b: torch.Tensor, up: int, down: int, padding: list[int], gain: float,
                   slope: float, clamp: float | None) -> torch.Tensor:
    """Bias, upsample (filter ``fu``), leaky ReLU times ``gain`` (clamped), downsample
    (filter ``fd``): the nonlinearity at a temporarily higher sampling rate."""
    x = x + b.reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=(padding[0], padding[1], padding[2], padding[3]),
                  gain=up ** 2)
    x = F.leaky_relu(x, slope) if slope != 1 else x
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, demodulate: bool,
                     padding: int, input_gain: torch.Tensor | None) -> torch.Tensor:
    n = x.shape[0]
    out_ch, in_ch, kh, kw = w.shape
    if demodulate:                         # weights and styles first brought to unit RMS
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = w[None] * s[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    if input_gain is not None:
        w = w * input_gain.expand(n, in_ch)[:, None, :, None, None]
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_ch, kh, kw),
                 padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


def design_lowpass(numtaps: int, cutoff: float, width: float, fs: float,
                   radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR (separable), or a radially symmetric jinc one; None
    for a single tap."""
    import scipy.signal
    import scipy.special

    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff,
                                                   width=width, fs=fs), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    win = np.kaiser(numtaps, beta)
    f = f * np.outer(win, win)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


class SynthesisInput(nn.Module):
    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float,
                 bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size = channels, int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnected(w_dim, 4, bias_init=0)
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", torch.zeros(channels, 2))
        self.register_buffer("phases", torch.zeros(channels))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)                                       # (cos, sin, tx, ty), learned
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rot = torch.eye(3, device=w.device)[None].repeat(n, 1, 1)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        tra = torch.eye(3, device=w.device)[None].repeat(n, 1, 1)
        tra[:, 0, 2], tra[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ tra @ self.transform[None]
        freqs, phases = self.freqs[None], self.phases[None]
        phases = phases + (freqs @ m[:, :2, 2:]).squeeze(2)
        freqs = freqs @ m[:, :2, :2]
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth)
               / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta[None], [1, 1, self.size, self.size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = torch.sin((x + phases[:, None, None]) * (np.pi * 2)) * amp[:, None, None]
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    def __init__(self, w_dim: int, is_torgb: bool, is_critical: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_sr: float, out_sr: float,
                 in_cutoff: float, out_cutoff: float, in_hw: float, out_hw: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 **_ignored: Any) -> None:
        super().__init__()
        self.is_torgb, self.in_channels = is_torgb, in_channels
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        tmp_sr = max(in_sr, out_sr) * (1 if is_torgb else lrelu_upsampling)
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel,
                                               self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up = int(np.rint(tmp_sr / in_sr))
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass(up_taps, in_cutoff, in_hw * 2, tmp_sr))
        self.down = int(np.rint(tmp_sr / out_sr))
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.register_buffer("down_filter", design_lowpass(
            down_taps, out_cutoff, out_hw * 2, tmp_sr,
            radial=use_radial_filters and not is_critical))
        total = (out_size - 1) * self.down + 1 - (in_size + self.conv_kernel - 1) * self.up \
            + up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = [int(lo), int(total - lo)] * 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel ** 2))
        x = modulated_conv2d(x, self.weight, styles, not self.is_torgb, self.conv_kernel - 1,
                             self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up,
                              self.down, self.padding, 1.0 if self.is_torgb else math.sqrt(2),
                              1.0 if self.is_torgb else 0.2, self.conv_clamp)


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512, num_layers: int = 14,
                 num_critical: int = 2, first_cutoff: float = 2, first_stopband: float = 2 ** 2.1,
                 last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, **layer_kwargs: Any) -> None:
        super().__init__()
        self.img_resolution, self.output_scale = img_resolution, output_scale
        self.num_ws = num_layers + 2
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        e = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** e
        stopbands = first_stopband * (last_stopband / first_stopband) ** e
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.rates = [int(r) for r in rates]
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0],
                                    cutoffs[0])
        keep = ("conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters",
                "conv_clamp")
        layer_kwargs = {k: v for k, v in layer_kwargs.items() if k in keep}
        self.layer_names = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim, i == num_layers, i >= num_layers - num_critical, int(channels[p]),
                int(channels[i]), int(sizes[p]), int(sizes[i]), int(rates[p]), int(rates[i]),
                cutoffs[p], cutoffs[i], half_widths[p], half_widths[i], **layer_kwargs)
            name = f"L{i}_{int(sizes[i])}_{int(channels[i])}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def layer_resolutions(self) -> tuple[int, ...]:
        """The sampling rate (a resolution) each W+ row drives: the input's, then each
        layer's output."""
        return tuple([self.rates[0]] + self.rates)

    def noise_layers(self) -> list[tuple[int, int]]:
        return []                          # StyleGAN3 has no noise inputs

    def forward(self, ws: torch.Tensor, noise: Any = "const") -> torch.Tensor:
        ws = ws.float().unbind(1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w)
        return x * self.output_scale if self.output_scale != 1 else x


def rows_of(img_resolution: int, num_layers: int = 14, num_critical: int = 2,
            first_cutoff: float = 2, first_stopband: float = 2 ** 2.1,
            last_stopband_rel: float = 2 ** 0.3, **_ignored: Any) -> tuple[int, list[int]]:
    """W+ rows of a StyleGAN3 and the sampling rate each drives (without building it)."""
    last_cutoff = img_resolution / 2
    e = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** e
    rates = [int(r) for r in np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2,
                                                                img_resolution))))]
    return num_layers + 2, [rates[0]] + rates


class Generator(nn.Module):
    """Built from a StyleGAN3 pickle's init kwargs (synthesis settings given flat)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
                 img_channels: int, mapping_kwargs: dict | None = None,
                 **synthesis_kwargs: Any) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = Synthesis(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        mk = {"num_layers": 2, **dict(mapping_kwargs or {})}
        self.mapping = Mapping(z_dim, c_dim, w_dim, self.num_ws, **mk)
