"""What the Attributes panel edits (Qt-free): a picture or a seed under a latent model, and the
amounts moved along each of the model's directions, with holds and layer ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.image.directions import DirectionSet

AMOUNT_LIMIT = 4.0          # steps either way a slider reaches
STRIP_STEPS = (5, 7, 9, 11)


@dataclass
class AttributesDoc:
    model: str = ""
    picture: np.ndarray | None = None           # uint8 RGB as the user gave it
    seed: int | None = None                     # a prior sample instead of a picture
    label: str = ""
    amounts: dict[str, float] = field(default_factory=dict)
    holds: set[str] = field(default_factory=set)
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)   # overrides
    strip_direction: str = "bold"
    strip_steps: int = 7
    strip_reach: float = 3.0

    @property
    def has_source(self) -> bool:
        return self.picture is not None or self.seed is not None

    def moved(self) -> dict[str, float]:
        """The directions with a non-zero amount."""
        return {k: float(v) for k, v in self.amounts.items() if abs(v) > 1e-9}

    def edit(self, ds: DirectionSet, z: np.ndarray) -> np.ndarray:
        """``z`` (D,) moved by every amount: each direction on its layer range, the held
        directions (other than itself) projected out of it."""
        out = np.asarray(z, np.float32).copy()
        for name, amount in self.moved().items():
            if name not in ds.names:
                continue
            hold = tuple(h for h in sorted(self.holds) if h != name and h in ds.names)
            rng = self.layers.get(name, "default")
            out = out + amount * ds.vector(name, rng, hold)
        return out

    def strip(self, ds: DirectionSet, z: np.ndarray) -> tuple[np.ndarray, list[float]]:
        """Latents (steps, D) along the strip's direction around the current edit, and the
        amounts of each."""
        name = self.strip_direction
        base = self.edit(ds, z)
        amounts = list(np.linspace(-self.strip_reach, self.strip_reach, self.strip_steps))
        hold = tuple(h for h in sorted(self.holds) if h != name and h in ds.names)
        v = ds.vector(name, self.layers.get(name, "default"), hold)
        return np.stack([base + a * v for a in amounts]).astype(np.float32), [
            round(float(a) + self.amounts.get(name, 0.0), 3) for a in amounts]

    def describe(self) -> str:
        parts = [f"{k} {v:+.1f}" for k, v in sorted(self.moved().items())]
        if self.holds:
            parts.append("holding " + ", ".join(sorted(self.holds)))
        return "; ".join(parts) or "unchanged"

    def state(self) -> dict[str, Any]:
        return {"model": self.model, "picture": self.picture, "seed": self.seed,
                "label": self.label, "amounts": dict(self.amounts),
                "holds": sorted(self.holds),
                "layers": {k: list(v) for k, v in self.layers.items()},
                "strip_direction": self.strip_direction, "strip_steps": self.strip_steps,
                "strip_reach": self.strip_reach}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> AttributesDoc:
        pic = s.get("picture")
        return cls(model=str(s.get("model", "")),
                   picture=None if pic is None else np.asarray(pic, np.uint8),
                   seed=None if s.get("seed") is None else int(s["seed"]),
                   label=str(s.get("label", "")),
                   amounts={str(k): float(v) for k, v in dict(s.get("amounts", {})).items()},
                   holds=set(map(str, s.get("holds", ()))),
                   layers={str(k): (int(v[0]), int(v[1]))
                           for k, v in dict(s.get("layers", {})).items()},
                   strip_direction=str(s.get("strip_direction", "bold")),
                   strip_steps=int(s.get("strip_steps", 7)),
                   strip_reach=float(s.get("strip_reach", 3.0)))
