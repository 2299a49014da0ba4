"""Diffusion samplers over one noise schedule (diffusers' schedulers are the model): a
:class:`~models.samplers.schedule.NoiseSchedule`, then DDPM or DDIM ``step()`` per timestep,
each draw from an explicit generator; RePaint's resampling schedule for inpainting."""

from __future__ import annotations

from typing import Any

SAMPLER_NAMES = ("ddim", "ddpm")


def make_sampler(name: str, schedule: Any) -> Any:
    """The sampler called ``name`` over ``schedule``; ValueError names the choices."""
    from models.samplers.ddim import DDIMSampler
    from models.samplers.ddpm import DDPMSampler

    if name not in SAMPLER_NAMES:
        raise ValueError(f"sampler is one of {', '.join(SAMPLER_NAMES)}, not '{name}'")
    return (DDIMSampler if name == "ddim" else DDPMSampler)(schedule)
