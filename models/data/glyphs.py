"""Glyph data set: A-Z, a-z, 0-9 at 64x64 grayscale from every installed Latin font.

Fonts come from Debian's font packages (``scripts/system-deps.sh --data`` installs them).
Labels are the character, the font family, and style tags read from the font tables
(bold, italic, monospace, serif/sans). The split is by family, so a test family is never
seen in training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageDraw, ImageFont

from models.files import save_npz
from models.protocol import JobContext

CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
SIZE = 64
_RENDER = 96  # render size before the per-font fit to 64 px
_SYMBOLIC = ("symbol", "dingbat", "emoji", "math", "music", "icons", "awesome", "wingding")


@dataclass(frozen=True)
class FontInfo:
    """One font face and the tags read from its tables."""

    path: str
    index: int
    family: str
    full_name: str
    bold: bool
    italic: bool
    monospace: bool
    serif: str  # "serif", "sans" or "" where the font does not say

    @property
    def tags(self) -> list[str]:
        out = [t for t, on in (("bold", self.bold), ("italic", self.italic),
                               ("monospace", self.monospace)) if on]
        return out + ([self.serif] if self.serif else [])


def _name(font: TTFont, *ids: int) -> str:
    for i in ids:
        rec = font["name"].getDebugName(i)
        if rec:
            return rec.strip()
    return ""


def read_font(path: Path, index: int = 0) -> FontInfo | None:
    """Tags of one face, or None when it lacks a character of CHARS or is symbolic."""
    try:
        if path.suffix.lower() == ".ttc":
            font = TTCollection(str(path), lazy=True).fonts[index]
        else:
            font = TTFont(str(path), lazy=True, fontNumber=index)
        cmap = font.getBestCmap() or {}
    except Exception:  # fontTools raises many kinds for broken or exotic files
        return None
    if any(ord(c) not in cmap for c in CHARS):
        return None
    family = _name(font, 16, 1)
    full = _name(font, 4) or family
    sub = _name(font, 17, 2).lower()
    if not family or any(s in full.lower() for s in _SYMBOLIC):
        return None
    os2 = font["OS/2"] if "OS/2" in font else None
    weight = getattr(os2, "usWeightClass", 400)
    fs_sel = getattr(os2, "fsSelection", 0)
    italic_angle = font["post"].italicAngle if "post" in font else 0
    bold = weight >= 600 or bool(fs_sel & 0x20) or "bold" in sub
    italic = bool(fs_sel & 0x01) or italic_angle != 0 or "italic" in sub or "oblique" in sub
    panose = getattr(os2, "panose", None)
    mono = bool(font["post"].isFixedPitch) if "post" in font else False
    serif = ""
    if panose is not None and panose.bFamilyType == 2:
        mono = mono or panose.bProportion == 9
        if 2 <= panose.bSerifStyle <= 10:
            serif = "serif"
        elif 11 <= panose.bSerifStyle <= 13:
            serif = "sans"
    if not serif:
        low = full.lower()
        serif = "sans" if "sans" in low else ("serif" if "serif" in low else "")
    return FontInfo(str(path), index, family, full, bold, italic, mono, serif)


def find_fonts(dirs: Iterable[Path] = FONT_DIRS) -> list[FontInfo]:
    """Every usable face under ``dirs``, one per full name, sorted for determinism."""
    seen: dict[str, FontInfo] = {}
    files = sorted(p for d in dirs if d.is_dir() for p in d.rglob("*")
                   if p.suffix.lower() in (".ttf", ".otf", ".ttc"))
    for path in files:
        n = 1
        if path.suffix.lower() == ".ttc":
            try:
                n = len(TTCollection(str(path), lazy=True).fonts)
            except Exception:
                continue
        for i in range(n):
            info = read_font(path, i)
            if info is not None and info.full_name not in seen:
                seen[info.full_name] = info
    return sorted(seen.values(), key=lambda f: (f.family, f.full_name))


def render_font(font: FontInfo, chars: str = CHARS, size: int = SIZE) -> np.ndarray | None:
    """All ``chars`` of one face, ``(len(chars), size, size)`` uint8, ink white on black.

    Every character of a face is scaled by the same factor and keeps its baseline, so
    x-height, descenders and widths stay as the designer drew them.
    """
    try:
        pil = ImageFont.truetype(font.path, _RENDER, index=font.index)
    except OSError:
        return None
    canvas = 3 * _RENDER
    base = 2 * _RENDER
    glyphs, boxes = [], []
    for c in chars:
        im = Image.new("L", (canvas, canvas), 0)
        ImageDraw.Draw(im).text((_RENDER, base), c, font=pil, fill=255, anchor="ls")
        box = im.getbbox()
        if box is None:
            return None
        glyphs.append(im)
        boxes.append(box)
    top = min(b[1] for b in boxes)
    bottom = max(b[3] for b in boxes)
    width = max(b[2] - b[0] for b in boxes)
    extent = max(bottom - top, width)
    # A 3-pixel margin at 64 px: the window is a little larger than the face's extent.
    half = extent * size / (size - 6) / 2
    cy = (top + bottom) / 2
    out = np.zeros((len(chars), size, size), np.uint8)
    for k, (im, box) in enumerate(zip(glyphs, boxes)):
        cx = (box[0] + box[2]) / 2
        crop = im.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
        out[k] = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
    return out


def split_of(family: str, seed: int) -> str:
    """Stable train/val/test split of a family: 80/10/10 by a seeded hash of its name."""
    h = int(hashlib.sha256(f"{seed}:{family}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < 0.8 else ("val" if h < 0.9 else "test")


def build(out: Path, seed: int = 0, dirs: Iterable[Path] = FONT_DIRS,
          max_fonts: int | None = None, ctx: JobContext | None = None) -> dict:
    """Render every usable font under ``dirs`` and write ``out`` (.npz) with its labels.

    Returns
    -------
    dict
        Summary: number of fonts, families and images per split.
    """
    ctx = ctx or JobContext()
    fonts = find_fonts(dirs)
    if max_fonts is not None:
        fonts = fonts[:max_fonts]
    if not fonts:
        raise ValueError("no usable fonts found; run scripts/system-deps.sh --data")
    images, char_idx, font_idx, kept = [], [], [], []
    for i, f in enumerate(fonts):
        ctx.report(i / len(fonts))
        g = render_font(f)
        if g is None:
            continue
        images.append(g)
        char_idx.append(np.arange(len(CHARS), dtype=np.int16))
        font_idx.append(np.full(len(CHARS), len(kept), dtype=np.int16))
        kept.append(f)
    table = [dict(family=f.family, name=f.full_name, file=Path(f.path).name, tags=f.tags,
                  split=split_of(f.family, seed)) for f in kept]
    splits = np.array([table[j]["split"] for j in np.concatenate(font_idx)])
    out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(
        out, True, images=np.concatenate(images), char=np.concatenate(char_idx),
        font=np.concatenate(font_idx), split=splits,
        fonts=np.array(json.dumps(table)), chars=np.array(CHARS),
    )
    ctx.report(1.0)
    return {
        "fonts": len(kept),
        "families": len({f["family"] for f in table}),
        "images": {s: int((splits == s).sum()) for s in ("train", "val", "test")},
        "path": str(out),
    }
