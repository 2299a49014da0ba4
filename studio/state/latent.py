"""The Latent Explorer's state: the four endpoints, the parameters of the morph (model,
path, steps, seed, scrub position, pad point) and the active slot, with change events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from studio.state import Events

SLOTS = ("A", "B", "C", "D")
SCRUB_MAX = 1000
PARAMS = ("model", "mode", "steps", "seed", "scrub")


@dataclass(frozen=True)
class Slot:
    """One endpoint. ``source`` is the RGB picture it came from (re-encoded when the model
    changes); ``seed`` a prior sample; ``latent`` is filled in by an encode job."""

    kind: str  # "image", "random" or "latent"
    label: str
    source: np.ndarray | None = None
    seed: int | None = None
    latent: np.ndarray | None = None
    note: str = ""

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "note": self.note}
        if self.source is not None:
            out["source"] = self.source
        if self.seed is not None:
            out["seed"] = int(self.seed)
        if self.latent is not None:
            out["latent"] = self.latent
        return out

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Slot:
        return cls(kind=d["kind"], label=d["label"], source=d.get("source"), seed=d.get("seed"),
                   latent=d.get("latent"), note=d.get("note", ""))


class LatentState:
    """Events: ``slot`` (index: a slot was set or emptied), ``latent`` (index: a slot's latent
    arrived), ``param`` (name), ``active`` (index), ``pad`` ((u, v))."""

    def __init__(self) -> None:
        self.slots: list[Slot | None] = [None] * len(SLOTS)
        self.active = 0
        self.model = ""
        self.mode = "slerp"
        self.steps = 8
        self.seed = 0
        self.scrub = SCRUB_MAX // 2
        self.pad_uv = (0.5, 0.5)
        self.arith_latent: np.ndarray | None = None
        self.events = Events("slot", "latent", "param", "active", "pad")

    def set_slot(self, index: int, slot: Slot | None) -> None:
        self.slots[index] = slot
        self.events.emit("slot", index)

    def set_latent(self, index: int, slot: Slot, latent: np.ndarray) -> bool:
        """Store the latent computed for ``slot``; False (and nothing changes) when the slot
        has changed since the job began."""
        if self.slots[index] is not slot:
            return False
        self.slots[index] = replace(slot, latent=latent)
        self.events.emit("latent", index)
        return True

    def set_param(self, name: str, value: Any) -> None:
        if name not in PARAMS:
            raise KeyError(f"no parameter '{name}' (parameters: {', '.join(PARAMS)})")
        setattr(self, name, value)
        self.events.emit("param", name)

    def set_active(self, index: int) -> None:
        self.active = index
        self.events.emit("active", index)

    def set_pad(self, u: float, v: float) -> None:
        self.pad_uv = (float(u), float(v))
        self.events.emit("pad", self.pad_uv)

    def to_session(self) -> dict[str, Any]:
        return {"model": self.model, "mode": self.mode, "steps": self.steps,
                "seed": self.seed, "scrub": self.scrub, "pad_uv": list(self.pad_uv),
                "active": self.active,
                "slots": [s.to_state() if s else None for s in self.slots]}
