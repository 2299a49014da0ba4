"""The history: every result made in the studio, across panels and sessions, in SQLite.

Each entry is a result's recipe (how to make it again), a small thumbnail (a picture, or a
waveform for a sound), the panel, model and task, a text to search (the prompt, the inputs'
names), when it was made and a star. An entry is committed as it is added (autocommit, a
write-ahead log), so a kill -9 right after a result loses nothing. Qt-free.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.recipe import Recipe

THUMB = 96                      # the longest side of a thumbnail, pixels

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    made REAL NOT NULL,
    panel TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipe TEXT NOT NULL,
    thumb BLOB,
    path TEXT NOT NULL DEFAULT '',
    starred INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_made ON entries(made);
"""


@dataclass(frozen=True)
class Entry:
    id: int
    made: float
    panel: str
    task: str
    model: str
    text: str
    kind: str                   # "picture" or "sound"
    path: str
    starred: bool


def thumbnail(rgb: np.ndarray | None = None, audio: np.ndarray | None = None) -> bytes:
    """A PNG thumbnail of a picture (H, W, 3|1 uint8), or of a sound's waveform."""
    from PIL import Image, ImageDraw

    if rgb is not None:
        arr = np.asarray(rgb)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        img = Image.fromarray(np.ascontiguousarray(arr, np.uint8))
        img.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR if max(img.size) > THUMB
                      else Image.Resampling.NEAREST)
        if max(img.size) < THUMB // 2:      # a 16-pixel glyph: enlarged in pixel blocks
            k = (THUMB // 2) // max(img.size)
            img = img.resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    else:
        y = np.abs(np.asarray(audio if audio is not None else np.zeros(1), np.float32))
        cols = THUMB
        edges = np.linspace(0, y.size, cols + 1).astype(int)
        peak = max(float(y.max(initial=0.0)), 1e-6)
        img = Image.new("RGB", (cols, THUMB // 2), (250, 250, 250))
        draw = ImageDraw.Draw(img)
        mid = THUMB // 4
        for x in range(cols):
            part = y[edges[x]:max(edges[x + 1], edges[x] + 1)]
            h = int(round(float(part.max(initial=0.0)) / peak * (mid - 1)))
            draw.line([(x, mid - h), (x, mid + h)], fill=(40, 90, 160))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def search_text(recipe: Recipe) -> str:
    """What a filter finds an entry by: its prompt and text, its inputs' names."""
    p = recipe.params
    words = [str(p.get(k, "")) for k in ("prompt", "negative", "text", "source", "direction")]
    words += [Path(f.path).name for f in recipe.inputs]
    return " ".join(w for w in words if w)


class History:
    """The history database (one file; many windows may add to it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def add(self, panel: str, recipe: Recipe, thumb: bytes, *, kind: str = "picture",
            path: str = "", made: float | None = None) -> int:
        """Keep a result (committed before this returns). Arrays too big for the database
        row (a painted mask, a photo) are kept in the row as well: an entry is whole."""
        doc = recipe.to_json(big_inline=True)
        cur = self.conn.execute(
            "INSERT INTO entries (made, panel, task, model, text, kind, recipe, thumb, path)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time() if made is None else made, panel, recipe.task,
             recipe.model.get("name", ""), search_text(recipe), kind,
             json.dumps(doc, separators=(",", ":")), thumb, path))
        return int(cur.lastrowid)

    def entries(self, *, panel: str = "", model: str = "", text: str = "",
                starred: bool = False, limit: int | None = None) -> list[Entry]:
        """Entries, newest first, filtered by panel, model, a text (any part of the prompt,
        the inputs' names, the model or the task) and the star."""
        where, args = [], []
        if panel:
            where.append("panel = ?")
            args.append(panel)
        if model:
            where.append("model = ?")
            args.append(model)
        if text:
            where.append("(text LIKE ? OR model LIKE ? OR task LIKE ?)")
            args += [f"%{text}%"] * 3
        if starred:
            where.append("starred = 1")
        sql = ("SELECT id, made, panel, task, model, text, kind, path, starred FROM entries"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
               + (f" LIMIT {int(limit)}" if limit else ""))
        return [Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))
                for r in self.conn.execute(sql, args)]

    def thumbs(self, ids: list[int]) -> dict[int, bytes]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r[0]: r[1] for r in self.conn.execute(
            f"SELECT id, thumb FROM entries WHERE id IN ({marks})", ids)}

    def recipe(self, entry_id: int) -> Recipe:
        row = self.conn.execute("SELECT recipe FROM entries WHERE id = ?",
                                (entry_id,)).fetchone()
        if row is None:
            raise KeyError(f"no history entry {entry_id}")
        return Recipe.from_json(json.loads(row[0]), f"history entry {entry_id}")

    def star(self, entry_id: int, on: bool = True) -> None:
        self.conn.execute("UPDATE entries SET starred = ? WHERE id = ?", (int(on), entry_id))

    def delete(self, entry_id: int) -> None:
        self.conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def panels(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT panel FROM entries ORDER BY panel")]

    def models(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT model FROM entries ORDER BY model")]

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


def default_path() -> Path:
    """$LATENT_STUDIO_HISTORY, else history.db in the user's data folder."""
    import os

    env = os.environ.get("LATENT_STUDIO_HISTORY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "latent-studio" / "history.db"
