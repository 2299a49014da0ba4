"""DDIM sampling (Song et al. 2021) over a NoiseSchedule: deterministic at ``eta`` = 0, DDPM's
variance at ``eta`` = 1."""

from __future__ import annotations

import torch

from models.samplers.schedule import NoiseSchedule, StepSampler, randn


class DDIMSampler(StepSampler):
    """``set_timesteps(steps)``, then ``step()`` once per timestep, noisiest first."""

    name = "ddim"

    def __init__(self, schedule: NoiseSchedule, eta: float = 0.0) -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta is in [0, 1], not {eta}")
        super().__init__(schedule)
        self.eta = eta

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_s, predicted x_0): x_s = sqrt(abar_s) x_0 + sqrt(1 - abar_s - sigma^2) eps
        + sigma z, sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)."""
        s = self.schedule
        t = int(timestep)
        prev = self.previous(t)
        x0, eps = s.split_output(model_output, sample, t)
        a_t, a_s = s.abar(t), s.abar(prev)
        sigma = self.eta * (((1 - a_s) / (1 - a_t)) * (1 - a_t / a_s)) ** 0.5
        out = (a_s ** 0.5) * x0 + (max(1 - a_s - sigma ** 2, 0.0) ** 0.5) * eps
        if sigma > 0 and prev >= 0:
            out = out + sigma * randn(tuple(sample.shape), generator, sample)
        return out, x0
