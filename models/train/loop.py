"""What every resumable training loop shares: a step plan, snapshots and resume.

A time budget (``minutes``) becomes a fixed number of steps once the speed is known (after
``probe`` steps), so the learning-rate schedule is a function of the step alone; the plan
is part of the snapshot, so a resumed run stops at the same step as one never stopped.
Data order must be a function of (seed, step) or of a generator whose state the snapshot
keeps, never of the clock: then a run resumed from a snapshot (after a crash or kill -9)
ends with the same weights as one never stopped.

A snapshot is a folder ``step-0001234`` under the run's folder holding ``state.pt`` (every
state dict, generator states, step, plan, history: read back with
``torch.load(weights_only=True)``), the model as it would ship (``model.safetensors`` +
card) and a fixed-seed sample grid ``samples.png``. It is written under a temporary name
and renamed, so a kill during the write leaves the previous snapshot whole.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE = "state.pt"
MODEL = "model.safetensors"
SAMPLES = "samples.png"


@dataclass
class Plan:
    """How many steps a run makes: ``max_steps``, or as many as fit in ``minutes`` at the
    speed of its first ``probe`` steps (whichever is fewer when both are given)."""

    minutes: float = 0.0
    max_steps: int = 0
    probe: int = 12
    total: int = 0
    seconds_per_step: float = 0.0

    def __post_init__(self) -> None:
        if self.minutes <= 0 and self.max_steps <= 0:
            raise ValueError("give a time budget (minutes) or a number of steps")
        if not self.total and self.minutes <= 0:
            self.total = self.max_steps

    def timed(self, steps: int, seconds: float, step: int) -> None:
        """``steps`` steps took ``seconds`` (timed from the end of this process's first
        step); the run is at ``step``. Once ``probe`` steps are timed, fix the total."""
        if self.total or steps < self.probe:
            return
        self.seconds_per_step = seconds / steps
        fit = int(self.minutes * 60 / self.seconds_per_step)
        self.total = max(step, min(fit, self.max_steps) if self.max_steps else fit)

    def fraction(self, step: int) -> float:
        """Progress in [0, 1]; 0 until the total is known."""
        return min(1.0, step / self.total) if self.total else 0.0

    def done(self, step: int) -> bool:
        return bool(self.total) and step >= self.total


def warmup_cosine(lr: float, step: int, plan: Plan, warmup: int = 100) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine to zero at the plan's end."""
    return lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * plan.fraction(step)))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of ``n`` items for ``epoch``: a function of (seed, epoch) only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def batch_indices(n: int, batch: int, seed: int, step: int) -> torch.Tensor:
    """Indices of step ``step``'s batch when each epoch walks a fresh permutation (the last
    short batch of an epoch is dropped, so every batch has ``batch`` items)."""
    per_epoch = max(1, n // batch)
    epoch, i = divmod(step, per_epoch)
    return epoch_order(n, seed, epoch)[i * batch:(i + 1) * batch]


@dataclass
class Snapshots:
    """Writes a snapshot every ``every_minutes`` (and when asked) into ``folder``."""

    folder: Path | None
    every_minutes: float = 5.0
    last: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        return self.folder is not None and self.every_minutes > 0 and (
            time.monotonic() - self.last >= self.every_minutes * 60)

    def write(self, step: int, state: dict[str, Any],
              export: Callable[[Path], None] | None = None) -> Path | None:
        """``state`` to ``folder/step-NNNNNNN/state.pt``; ``export(dir)`` writes the model
        and its samples beside it. Returns the snapshot's folder."""
        if self.folder is None:
            return None
        self.last = time.monotonic()
        final = self.folder / f"step-{step:07d}"
        tmp = self.folder / f".step-{step:07d}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(state, tmp / STATE)
        if export is not None:
            export(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return final


def snapshots_in(folder: Path) -> list[Path]:
    """The whole snapshots under ``folder`` (or ``folder`` itself when it is one), oldest
    first."""
    folder = Path(folder)
    if (folder / STATE).is_file():
        return [folder]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*") if (p / STATE).is_file())


def latest(folder: Path) -> Path | None:
    found = snapshots_in(folder)
    return found[-1] if found else None


def read_state(snapshot: Path) -> dict[str, Any]:
    """A snapshot's state (tensors, numbers, strings: nothing that runs code)."""
    return torch.load(Path(snapshot) / STATE, map_location="cpu", weights_only=True)


def plan_state(plan: Plan) -> dict[str, Any]:
    return asdict(plan)


def plan_from(state: dict[str, Any]) -> Plan:
    return Plan(**state)


def sample_grid(pictures: np.ndarray, columns: int = 8) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*H, columns*W, 3) picture with 1-pixel gutters."""
    n, h, w, c = pictures.shape
    rows = (n + columns - 1) // columns
    out = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, 3), 40, np.uint8)
    for i, p in enumerate(pictures):
        r, k = divmod(i, columns)
        out[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = (
            p if c == 3 else np.repeat(p, 3, axis=-1))
    return out


def save_png(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)
