"""The latent library: named latents kept across runs (a JSON file) and in sessions."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QStandardPaths


def default_path() -> Path:
    env = os.environ.get("LATENT_STUDIO_LIBRARY")
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".latent-studio") / "latent-library.json"


class LatentLibrary:
    """Entries ``{name: {"model", "latent", "created", "source"}}``, saved on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.entries: dict[str, dict[str, Any]] = {}
        self.problem = ""
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = {k: self._check(v) for k, v in raw.items()}
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self.problem = f"{self.path}: the latent library could not be read ({exc})"

    @staticmethod
    def _check(entry: dict[str, Any]) -> dict[str, Any]:
        return {"model": str(entry["model"]), "latent": [float(x) for x in entry["latent"]],
                "created": str(entry.get("created", "")), "source": str(entry.get("source", ""))}

    def unique_name(self, base: str) -> str:
        name, n = base, 2
        while name in self.entries:
            name, n = f"{base} {n}", n + 1
        return name

    def add(self, name: str, model: str, latent: np.ndarray, source: str = "") -> str:
        name = self.unique_name(name.strip() or "latent")
        self.entries[name] = {"model": model, "latent": [float(x) for x in latent],
                              "created": time.strftime("%Y-%m-%d %H:%M"), "source": source}
        self.save()
        return name

    def remove(self, name: str) -> None:
        self.entries.pop(name, None)
        self.save()

    def rename(self, old: str, new: str) -> str:
        entry = self.entries.pop(old)
        new = self.unique_name(new.strip() or old)
        self.entries[new] = entry
        self.save()
        return new

    def latent(self, name: str) -> np.ndarray:
        return np.asarray(self.entries[name]["latent"], dtype=np.float32)

    def merge(self, entries: dict[str, dict[str, Any]]) -> None:
        """Add a session's entries; same name and same latent is one entry."""
        for name, entry in entries.items():
            entry = self._check(entry)
            if name in self.entries and self.entries[name]["latent"] == entry["latent"]:
                continue
            self.entries[self.unique_name(name)] = entry
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1), encoding="utf-8")
        tmp.replace(self.path)
