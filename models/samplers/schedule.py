"""The noise schedule a diffusion model was trained with, shared by every sampler.

Forward process: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t = 0 .. T-1, where abar_t is
the cumulative product of (1 - beta_t). A model predicts eps ("epsilon"), or
v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 ("v_prediction").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTIONS = ("epsilon", "v_prediction")


@dataclass(frozen=True)
class ScheduleConfig:
    """The schedule's settings, with diffusers' names (so a ``scheduler_config.json`` reads
    straight in)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    prediction_type: str = "epsilon"
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    def __post_init__(self) -> None:
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule '{self.beta_schedule}' is not one of "
                             f"{', '.join(BETA_SCHEDULES)}")
        if self.prediction_type not in PREDICTIONS:
            raise ValueError(f"prediction_type '{self.prediction_type}' is not one of "
                             f"{', '.join(PREDICTIONS)}")
        if self.num_train_timesteps < 2:
            raise ValueError("num_train_timesteps must be at least 2")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScheduleConfig:
        """From a diffusers scheduler config (keys this schedule does not use are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoiseSchedule:
    """betas, alphas and their cumulative products (float64, CPU) of a config."""

    def __init__(self, cfg: ScheduleConfig | None = None) -> None:
        self.cfg = cfg or ScheduleConfig()
        n = self.cfg.num_train_timesteps
        if self.cfg.beta_schedule == "linear":
            betas = torch.linspace(self.cfg.beta_start, self.cfg.beta_end, n, dtype=torch.float64)
        elif self.cfg.beta_schedule == "scaled_linear":
            betas = torch.linspace(self.cfg.beta_start ** 0.5, self.cfg.beta_end ** 0.5, n,
                                   dtype=torch.float64) ** 2
        else:                            # Nichol & Dhariwal's cosine, betas capped at 0.999
            def abar(t: float) -> float:
                return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
            betas = torch.tensor([min(1 - abar((i + 1) / n) / abar(i / n), 0.999)
                                  for i in range(n)], dtype=torch.float64)
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)

    @property
    def num_train_timesteps(self) -> int:
        return self.cfg.num_train_timesteps

    def abar(self, t: int) -> float:
        """abar_t, and 1 for t < 0 (the clean image)."""
        return float(self.alphas_cumprod[t]) if t >= 0 else 1.0

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        """x_t of x_0 with ``noise``."""
        a = self.abar(t)
        return (a ** 0.5) * x0 + ((1 - a) ** 0.5) * noise

    def renoise(self, x: torch.Tensor, t_from: int, t_to: int, noise: torch.Tensor
                ) -> torch.Tensor:
        """x_{t_to} drawn from q(x_{t_to} | x_{t_from}) for t_to > t_from (RePaint's jump
        back up): sqrt(abar_to / abar_from) x + sqrt(1 - abar_to / abar_from) noise."""
        ratio = self.abar(t_to) / self.abar(t_from)
        return (ratio ** 0.5) * x + ((1 - ratio) ** 0.5) * noise

    def split_output(self, model_output: torch.Tensor, sample: torch.Tensor, t: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted x_0, predicted eps) from the model's output at x_t, x_0 clipped to the
        sample range when the config says so (eps then follows the clipped x_0)."""
        a = self.abar(t)
        if self.cfg.prediction_type == "epsilon":
            x0 = (sample - ((1 - a) ** 0.5) * model_output) / (a ** 0.5)
        else:
            x0 = (a ** 0.5) * sample - ((1 - a) ** 0.5) * model_output
        if self.cfg.clip_sample:
            r = self.cfg.clip_sample_range
            x0 = x0.clamp(-r, r)
        eps = (sample - (a ** 0.5) * x0) / ((1 - a) ** 0.5)
        return x0, eps

    def timesteps(self, steps: int) -> list[int]:
        """``steps`` evenly spaced training timesteps, from the noisiest down ("leading"
        spacing, as diffusers' DDIM uses by default)."""
        n = self.num_train_timesteps
        if not 1 <= steps <= n:
            raise ValueError(f"steps must be 1..{n}, not {steps}")
        stride = n // steps
        return [i * stride for i in range(steps)][::-1]


class StepSampler:
    """What DDPM and DDIM share: the run's timesteps (noisiest first) and the step after
    each. ``set_timesteps(steps)``, then the subclass's ``step()`` once per timestep."""

    name = ""

    def __init__(self, schedule: NoiseSchedule, steps: int = 50) -> None:
        self.schedule = schedule
        self.set_timesteps(min(steps, schedule.num_train_timesteps))

    def set_timesteps(self, steps: int) -> None:
        self.timesteps = np.array(self.schedule.timesteps(steps))

    def previous(self, timestep: int) -> int:
        """The timestep after ``timestep`` in this run (-1: the clean image)."""
        later = self.timesteps[self.timesteps < timestep]
        return int(later.max()) if len(later) else -1


def randn(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor
          ) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from ``generator`` (the same numbers on every
    device), then moved to ``like``'s device and dtype."""
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(
        device=like.device, dtype=like.dtype)
