"""Search a built data set by character, font, style tag, emoji group or name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data import cache_dir


@dataclass
class DatasetIndex:
    """Images (N, H, W) or (N, H, W, 3) uint8 and one searchable label per image."""

    name: str
    images: np.ndarray
    labels: list[str]
    splits: np.ndarray

    def search(self, query: str, limit: int = 240) -> list[int]:
        """Indices whose label holds every word of ``query`` (case-insensitive).

        A single character matches that glyph exactly ("a" is not "A").
        """
        words = query.split()
        out = []
        for i, label in enumerate(self.labels):
            if all(self._match(w, label) for w in words):
                out.append(i)
                if len(out) >= limit:
                    break
        return out

    @staticmethod
    def _match(word: str, label: str) -> bool:
        if len(word) == 1:
            return label.startswith(f"'{word}'")
        return word.lower() in label.lower()

    def image(self, i: int) -> np.ndarray:
        """(H, W, C) float32 in [0, 1]."""
        img = self.images[i].astype(np.float32) / 255.0
        return img[..., None] if img.ndim == 2 else img


def load_index(name: str, path: Path | None = None) -> DatasetIndex:
    """Open a data set built by ``latent-studio data build NAME``."""
    path = path or cache_dir() / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"the {name} data set is not built yet: run "
                                f"'latent-studio data build {name}' (or 'make data')")
    d = np.load(path)
    if name == "glyphs":
        chars = str(d["chars"])
        fonts = json.loads(str(d["fonts"]))
        labels = [f"'{chars[c]}' {fonts[f]['name']} {' '.join(fonts[f]['tags'])}"
                  for c, f in zip(d["char"], d["font"])]
    else:
        groups = json.loads(str(d["groups"]))
        sources = json.loads(str(d["sources"]))
        labels = [f"{n} ({groups[g]}, {sources[s]})"
                  for n, g, s in zip(d["name"], d["group"], d["source"])]
    return DatasetIndex(name, d["images"], labels, d["split"])
