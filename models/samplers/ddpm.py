"""DDPM ancestral sampling (Ho et al. 2020) over a NoiseSchedule, with strided timesteps:
between two kept timesteps t > s the step uses alpha = abar_t / abar_s, beta = 1 - alpha."""

from __future__ import annotations

import torch

from models.samplers.schedule import StepSampler, randn


class DDPMSampler(StepSampler):
    """Ancestral sampling: ``set_timesteps(steps)``, then ``step()`` once per timestep."""

    name = "ddpm"

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_s, predicted x_0) from x_t: the posterior mean of q(x_s | x_t, x_0) plus its
        standard deviation times noise drawn from ``generator`` (none at the last step)."""
        s = self.schedule
        t = int(timestep)
        prev = self.previous(t)
        x0, _ = s.split_output(model_output, sample, t)
        a_t, a_s = s.abar(t), s.abar(prev)
        alpha = a_t / a_s
        beta = 1.0 - alpha
        mean = ((a_s ** 0.5) * beta / (1 - a_t)) * x0 + \
            ((alpha ** 0.5) * (1 - a_s) / (1 - a_t)) * sample
        if prev < 0:
            return mean, x0
        var = (1 - a_s) / (1 - a_t) * beta
        return mean + (var ** 0.5) * randn(tuple(sample.shape), generator, sample), x0
