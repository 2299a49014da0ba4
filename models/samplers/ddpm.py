"""DDPM ancestral sampling (Ho et al. 2020) over a NoiseSchedule, with strided timesteps:
between two kept timesteps t > s the step uses alpha = abar_t / abar_s, beta = 1 - alpha."""

from __future__ import annotations

import numpy as np
import torch

from models.samplers.schedule import NoiseSchedule, randn


class DDPMSampler:
    """``set_timesteps(steps)``, then ``step()`` once per timestep, noisiest first."""

    name = "ddpm"

    def __init__(self, schedule: NoiseSchedule) -> None:
        self.schedule = schedule
        self.timesteps = np.array(schedule.timesteps(schedule.num_train_timesteps))

    def set_timesteps(self, steps: int) -> None:
        self.timesteps = np.array(self.schedule.timesteps(steps))

    def previous(self, timestep: int) -> int:
        """The timestep after ``timestep`` in this run (-1: the clean image)."""
        later = self.timesteps[self.timesteps < timestep]
        return int(later.max()) if len(later) else -1

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
