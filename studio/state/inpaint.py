"""The Inpainting panel's state: the picture (as given, and as the model takes it), the mask,
the sampling options, the mask tool, and the history of results with their options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.state import Events

PARAMS = ("model", "sampler", "steps", "repaint", "guidance", "label", "seed", "feather",
          "tool", "brush", "hardness", "opacity", "frame_glyph",
          # Stable Diffusion (a model that takes a prompt)
          "prompt", "negative", "scheduler", "strength", "width", "height", "batch",
          "mask_blur", "only_masked", "padding", "loras", "lock_seed", "preview_every",
          "embeddings")
TOOLS = ("brush", "eraser", "rectangle", "fill")
MAX_HISTORY = 24


@dataclass(frozen=True, eq=False)
class HistoryEntry:
    """One finished (or cancelled) run: the result as the model gave it (H, W, C) in
    [0, 1], the picture and mask it started from, and its options as text."""

    result: np.ndarray
    source: np.ndarray
    mask: np.ndarray
    options: dict[str, str] = field(default_factory=dict)
    recipe: Any = None          # how to make it again (models/recipe.py); None: cancelled

    def to_state(self) -> dict[str, Any]:
        return {"result": self.result, "source": self.source, "mask": self.mask,
                "options": dict(self.options)}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> HistoryEntry:
        return cls(np.asarray(d["result"], np.float32), np.asarray(d["source"], np.float32),
                   np.asarray(d["mask"], np.float32),
                   {str(k): str(v) for k, v in dict(d.get("options", {})).items()})


class InpaintState:
    """Events: ``picture`` (a new picture or a new model size), ``mask``, ``param`` (name),
    ``history`` and ``selected`` (history index or None)."""

    def __init__(self) -> None:
        self.picture: np.ndarray | None = None     # (h, w, 3) uint8 as the user gave it
        self.label_text = ""                       # where the picture came from
        self.image: np.ndarray | None = None       # (H, W, C) float32, as the model takes it
        self.dark_on_light = True                  # how gray results are shown
        self.mask: np.ndarray | None = None        # (H, W) float32, 1 = repaint
        self.model = ""
        self.sampler = "ddim"
        self.steps = 50
        self.repaint = "none"
        self.guidance = 1.0
        self.label: int | None = None
        self.seed = 0
        self.feather = 1.5
        self.tool = "brush"
        self.brush = 4.0                           # radius in model pixels
        self.hardness = 0.8
        self.opacity = 0.5
        self.frame_glyph = False                   # glyph models: find and frame the glyph
        self.prompt = ""
        self.negative = ""
        self.scheduler = "default"
        self.strength = 0.0                        # 0: the default (1 inpaint, 0.75 img2img)
        self.width = 0                             # 0: the picture's own (or native) size
        self.height = 0
        self.batch = 1
        self.mask_blur = 4.0
        self.only_masked = False
        self.padding = 32
        self.loras: tuple[tuple[str, float], ...] = ()
        self.lock_seed = True                      # unlocked: a new seed after each run
        self.preview_every = 0                     # VAE-decoded preview every N steps (0: no)
        self.embeddings: tuple[str, ...] = ()      # textual inversions (files)
        self.history: list[HistoryEntry] = []
        self.selected: int | None = None
        self.events = Events("picture", "mask", "param", "history", "selected")

    def set_picture(self, picture: np.ndarray | None, label: str, image: np.ndarray | None,
                    dark_on_light: bool, mask: np.ndarray | None) -> None:
        """A picture with its model image and mask together (undo restores all of them)."""
        self.picture, self.label_text, self.image = picture, label, image
        self.dark_on_light = dark_on_light
        self.mask = mask
        self.events.emit("picture")
        self.events.emit("mask")

    def set_mask(self, mask: np.ndarray) -> None:
        if self.image is not None and mask.shape != self.image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match the picture "
                             f"{self.image.shape[:2]}")
        self.mask = np.asarray(mask, np.float32)
        self.events.emit("mask")

    def set_param(self, name: str, value: Any) -> None:
        if name not in PARAMS:
            raise KeyError(f"no parameter '{name}' (parameters: {', '.join(PARAMS)})")
        if name == "tool" and value not in TOOLS:
            raise ValueError(f"unknown tool '{value}' (one of {', '.join(TOOLS)})")
        if name == "loras":
            value = tuple((str(p), float(w)) for p, w in value)
        if name == "embeddings":
            value = tuple(str(p) for p in value)
        setattr(self, name, value)
        self.events.emit("param", name)

    def add_result(self, entry: HistoryEntry) -> None:
        self.history = (self.history + [entry])[-MAX_HISTORY:]
        self.events.emit("history")
        self.select(len(self.history) - 1)

    def set_history(self, history: list[HistoryEntry]) -> None:
        self.history = list(history)[-MAX_HISTORY:]
        if self.selected is not None and self.selected >= len(self.history):
            self.selected = None
        self.events.emit("history")
        self.events.emit("selected", self.selected)

    def select(self, index: int | None) -> None:
        self.selected = index
        self.events.emit("selected", index)

    def current(self) -> HistoryEntry | None:
        if self.selected is None or not 0 <= self.selected < len(self.history):
            return None
        return self.history[self.selected]

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in PARAMS}
        out["loras"] = [list(x) for x in self.loras]
        out["embeddings"] = list(self.embeddings)
        out.update({"label_text": self.label_text, "dark_on_light": self.dark_on_light,
                    "history": [h.to_state() for h in self.history],
                    "selected": self.selected})
        for name in ("picture", "image", "mask"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def restore(self, d: dict[str, Any]) -> None:
        picture = d.get("picture")
        image = d.get("image")
        self.set_picture(None if picture is None else np.asarray(picture, np.uint8),
                         str(d.get("label_text", "")),
                         None if image is None else np.asarray(image, np.float32),
                         bool(d.get("dark_on_light", True)),
                         None if d.get("mask") is None else np.asarray(d["mask"], np.float32))
        for name in PARAMS:                   # after the picture: a model sees its own size
            if name in d:
                self.set_param(name, d[name])
        self.set_history([HistoryEntry.from_state(h) for h in d.get("history", [])])
        sel = d.get("selected")
        self.select(int(sel) if sel is not None and int(sel) < len(self.history) else None)
