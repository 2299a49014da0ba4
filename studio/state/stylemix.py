"""The Style Mixer's state: row sources (A), column sources (B), the crossover (rows of W+
taken from B), truncation, noise, and the "write in this style" text and style glyphs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.state import Events

PARAMS = ("model", "from_b", "psi", "cutoff", "noise", "noise_seed", "strengths", "text",
          "style_strength", "label")
MAX_SOURCES = 8


@dataclass(frozen=True, eq=False)
class MixSource:
    """A row, a column or a style glyph: a seed, a picture (RGB uint8, encoded by the model
    in use) or a code from the latent library (flattened W+ of one model)."""

    kind: str                        # "seed", "picture" or "latent"
    label: str
    seed: int | None = None
    picture: np.ndarray | None = None
    latent: np.ndarray | None = None
    model: str = ""                  # the model a latent belongs to
    note: str = ""

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "note": self.note,
                               "model": self.model}
        if self.seed is not None:
            out["seed"] = int(self.seed)
        if self.picture is not None:
            out["picture"] = self.picture
        if self.latent is not None:
            out["latent"] = self.latent
        return out

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> MixSource:
        return cls(kind=str(d["kind"]), label=str(d["label"]), seed=d.get("seed"),
                   picture=d.get("picture"), latent=d.get("latent"),
                   model=str(d.get("model", "")), note=str(d.get("note", "")))


class StyleMixState:
    """Events: ``sources`` (which: "rows", "cols" or "style"), ``param`` (name),
    ``selected`` ((row, col) or None)."""

    def __init__(self) -> None:
        self.rows: list[MixSource] = []
        self.cols: list[MixSource] = []
        self.style: list[MixSource] = []
        self.model = ""
        self.from_b: tuple[int, ...] = ()
        self.psi = 1.0
        self.cutoff = 0                  # 0: every row
        self.noise = False
        self.noise_seed = 0
        self.strengths: tuple[float, ...] = ()
        self.text = "Hamburgefonts"
        self.style_strength = 1.0        # "write in this style": 0 the mean font, 1 the glyphs'
        self.label = 0                   # the class a conditional model draws seeds of
        self.selected: tuple[int, int] | None = None
        self.events = Events("sources", "param", "selected")

    def sources(self, which: str) -> list[MixSource]:
        if which not in ("rows", "cols", "style"):
            raise KeyError(f"no source list '{which}' (rows, cols, style)")
        return getattr(self, which)

    def set_sources(self, which: str, sources: list[MixSource]) -> None:
        if len(sources) > MAX_SOURCES:
            raise ValueError(f"at most {MAX_SOURCES} {which}")
        setattr(self, which, list(sources))
        if which != "style" and self.selected is not None and (
                self.selected[0] >= len(self.rows) or self.selected[1] >= len(self.cols)):
            self.select(None)
        self.events.emit("sources", which)

    def set_param(self, name: str, value: Any) -> None:
        if name not in PARAMS:
            raise KeyError(f"no parameter '{name}' (parameters: {', '.join(PARAMS)})")
        if name == "from_b":
            value = tuple(sorted(set(int(v) for v in value)))
        elif name == "strengths":
            value = tuple(float(v) for v in value)
        setattr(self, name, value)
        self.events.emit("param", name)

    def select(self, cell: tuple[int, int] | None) -> None:
        self.selected = cell
        self.events.emit("selected", cell)

    def noise_request(self) -> tuple[int | None, tuple[float, ...]]:
        """(noise seed or None when noise is off, per-row strengths)."""
        return (int(self.noise_seed) if self.noise else None), self.strengths

    def to_state(self) -> dict[str, Any]:
        return {
            "rows": [s.to_state() for s in self.rows],
            "cols": [s.to_state() for s in self.cols],
            "style": [s.to_state() for s in self.style],
            "model": self.model, "from_b": list(self.from_b), "psi": self.psi,
            "cutoff": self.cutoff, "noise": self.noise, "noise_seed": self.noise_seed,
            "strengths": list(self.strengths), "text": self.text,
            "style_strength": self.style_strength, "label": self.label,
        }

    def restore(self, d: dict[str, Any]) -> None:
        for name in PARAMS:
            if name in d:
                self.set_param(name, d[name])
        for which in ("rows", "cols", "style"):
            self.set_sources(which, [MixSource.from_state(s) for s in d.get(which, [])])
