"""Inpainting with any sampler: the known region is replaced by the noised original at every
step (the seed notes' method), optionally with RePaint's resampling (Lugmayr et al. 2022):
every ``jump`` steps the sample is noised ``jump`` steps back up and denoised again,
``resamples - 1`` times, so the repainted part can agree with the known part.

Positions count the denoising steps still to do: ``steps`` is pure noise at the run's
noisiest timestep, 0 is the clean image. A move down is one network call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from models.protocol import JobContext, ParamSpec
from models.samplers.schedule import NoiseSchedule, randn

# The width of the blend at the mask's edge, a setting of every inpainting backend.
FEATHER = ParamSpec("feather", "float", 1.5, 0.0, 8.0, unit="px",
                    help="width of the blend at the mask's edge")


@dataclass(frozen=True)
class RepaintPreset:
    steps: int
    jump: int           # 0: no resampling
    resamples: int

    @property
    def network_calls(self) -> int:
        return network_calls(self.steps, self.jump, self.resamples)


PRESETS = {
    "none": RepaintPreset(50, 0, 1),
    "fast": RepaintPreset(50, 5, 5),
    "quality": RepaintPreset(250, 10, 10),
}


def jump_schedule(steps: int, jump: int, resamples: int) -> list[int]:
    """The positions visited, from ``steps`` down to 0: at every multiple of ``jump`` below
    ``steps - jump`` the walk goes ``jump`` positions back up, ``resamples - 1`` times."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    if jump < 0 or resamples < 1:
        raise ValueError("jump must be >= 0 and resamples >= 1")
    left = ({p: resamples - 1 for p in range(0, steps - jump, jump)}
            if jump > 0 and resamples > 1 else {})
    pos, out = steps, [steps]
    while pos > 0:
        pos -= 1
        out.append(pos)
        if left.get(pos, 0) > 0:
            left[pos] -= 1
            for _ in range(jump):
                pos += 1
                out.append(pos)
    return out


def network_calls(steps: int, jump: int, resamples: int) -> int:
    """How many moves down (network calls) a schedule makes."""
    path = jump_schedule(steps, jump, resamples)
    return sum(1 for a, b in zip(path, path[1:]) if b < a)


def feather_mask(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """``mask`` (B, 1, H, W) in [0, 1] blurred by a Gaussian of ``radius`` pixels, then kept
    at 1 wherever the mask was 1 (the repainted part stays whole; only its edge fades out)."""
    if radius <= 0:
        return mask
    k = int(2 * round(2 * radius) + 1)
    x = torch.arange(k, dtype=mask.dtype, device=mask.device) - k // 2
    g = torch.exp(-0.5 * (x / radius) ** 2)
    g = g / g.sum()
    pad = k // 2
    m = torch.nn.functional.pad(mask, (pad, pad, pad, pad), mode="replicate")
    m = torch.nn.functional.conv2d(m, g.view(1, 1, 1, k))
    m = torch.nn.functional.conv2d(m, g.view(1, 1, k, 1))
    return torch.maximum(m, mask)


def inpaint(denoise: Callable[[torch.Tensor, int], torch.Tensor], sampler, schedule:
            NoiseSchedule, image: torch.Tensor, mask: torch.Tensor, preset: RepaintPreset, *,
            generator: torch.Generator | None = None, feather_px: float = 1.5,
            ctx: JobContext | None = None, clip: float | None = 1.0,
            preview: Callable[[torch.Tensor], Any] | None = None) -> torch.Tensor:
    """Repaint ``image`` (B, C, H, W) in [-1, 1] where ``mask`` (B, 1, H, W) is 1.

    ``denoise(x_t, t)`` is the model's output at timestep t (guidance included); ``sampler``
    is a DDPM or DDIM sampler over ``schedule``. Progress and the predicted clean image (the
    known part pasted in; through ``preview`` when given, e.g. a decoder) go to ``ctx`` after
    every network call; cancel stops within one. ``clip`` bounds the predicted and final
    samples (pixels in [-1, 1]; None for unbounded latents). The result keeps the real
    pixels outside the mask, blended over a feathered edge.
    """

    def bound(v: torch.Tensor) -> torch.Tensor:
        return v.clamp(-clip, clip) if clip is not None else v

    sampler.set_timesteps(preset.steps)
    ts = [int(t) for t in sampler.timesteps]            # noisiest first

    def timestep(pos: int) -> int:                       # the timestep at a position
        return ts[preset.steps - pos] if pos > 0 else -1

    path = jump_schedule(preset.steps, preset.jump, preset.resamples)
    total = sum(1 for a, b in zip(path, path[1:]) if b < a)
    x = randn(tuple(image.shape), generator, image)
    x = mask * x + (1 - mask) * schedule.add_noise(image, randn(tuple(image.shape), generator,
                                                                image), timestep(path[0]))
    done = 0
    for a, b in zip(path, path[1:]):
        if ctx is not None:
            ctx.check()
        t = timestep(a)
        if b < a:                                        # one step down
            out = denoise(x, t)
            x, x0 = sampler.step(out, t, x, generator=generator)
            t_next = timestep(b)
            known = image if t_next < 0 else schedule.add_noise(
                image, randn(tuple(image.shape), generator, image), t_next)
            x = mask * x + (1 - mask) * known
            shown = mask * bound(x0) + (1 - mask) * image
            done += 1
            if ctx is not None:
                ctx.report(done / total, preview(shown) if preview is not None else shown)
        else:                                            # back up: noise one step again
            x = schedule.renoise(x, t, timestep(b), randn(tuple(image.shape), generator, x))
    edge = feather_mask(mask, feather_px)
    return edge * bound(x) + (1 - edge) * image
