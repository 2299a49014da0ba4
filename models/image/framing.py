"""Framing a user's picture of a letter as the glyph data set frames its glyphs.

The data set (``models/data/glyphs.py``) scales each face by its own extent and keeps the
baseline: a capital fills rows 5..48 of the 64-pixel window, an x-height letter rows 17..48,
a letter with a descender rows 17..61 (medians over the train split). A lone letter on a page
says nothing about its face, so which of these it is cannot be read from its ink box: a
picture is placed in each of the data set's boxes, and when a glyph classifier is at hand the
placement is kept under which the classifier reads a character that belongs there (an 'n'
read as 'n' in the x-height box, not as 'H' in the capital box). Without one, the capital
box is used, the most common.

Letters whose lower and upper case differ only in size (c o s u v w x z, and o/0) stay
ambiguous alone: no framing can tell them apart without a second letter for scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIZE = 64
MARGIN = 3            # the data set's margin, pixels at 64


@dataclass(frozen=True)
class GlyphBox:
    """Rows ``top``..``bottom`` (at 64 px) the ink of a kind of character fills."""

    name: str
    top: int
    bottom: int
    chars: str


# Median ink rows per character over the glyph set's train split (718 faces), grouped.
BOXES = (
    GlyphBox("a capital, digit or tall letter", 5, 48,
             "ABCDEFGHIJKLMNOPRSTUVWXYZbdfhiklt0123456789"),
    GlyphBox("an x-height letter", 17, 48, "acemnorsuvwxz"),
    GlyphBox("a letter with a descender", 17, 61, "gpqy"),
    GlyphBox("a tall letter with a descender", 5, 61, "Qj"),
)

# A chooser gets the candidate framings (K, H, W, 1) in BOXES order and returns an index.
Chooser = Callable[[np.ndarray], int]


def border(picture: np.ndarray) -> np.ndarray:
    """The pixels along a picture's four edges (its background, for a framed subject)."""
    return np.concatenate([picture[0], picture[-1], picture[:, 0], picture[:, -1]])


def ink_box(gray: np.ndarray, threshold: float = 0.25) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the ink in a light-on-dark gray picture in [0, 1], or
    None when there is none: pixels brighter than ``threshold`` of the way from the
    background (the border's median) to the brightest pixel."""
    bg = float(np.median(border(gray)))
    peak = float(gray.max())
    if peak - bg < 0.15:
        return None
    ink = gray > bg + threshold * (peak - bg)
    # Ignore specks: a row or column counts when it holds a few percent of the ink of the
    # fullest one.
    r, c = ink.sum(1), ink.sum(0)
    rows = np.flatnonzero(r >= max(1, 0.03 * r.max()))
    cols = np.flatnonzero(c >= max(1, 0.03 * c.max()))
    if rows.size == 0 or cols.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def is_framed(gray: np.ndarray) -> bool:
    """Whether a model-sized glyph already sits as the data set's do: ink inside the margin
    and at least a quarter of the window high (the data set's own glyphs pass unchanged)."""
    box = ink_box(gray)
    if box is None:
        return False
    top, bottom, left, right = box
    n = gray.shape[0]
    return (top >= MARGIN - 1 and left >= MARGIN - 1 and bottom <= n - MARGIN + 1
            and right <= n - MARGIN + 1 and bottom - top >= 0.25 * n)


def place(gray: np.ndarray, box: tuple[int, int, int, int], target: GlyphBox,
          size: int = SIZE, background: float | None = None) -> np.ndarray:
    """The ink of ``gray`` scaled to fill ``target``'s rows (narrower if it would pass the
    margin), centred horizontally, on the picture's background (or ``background``: 0 for
    a mask moved with its picture); (size, size) float32."""
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    k = size / SIZE
    rows = (target.bottom - target.top) * k
    usable = size - 2 * MARGIN * k
    scale = min(rows / h, usable / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    src = Image.fromarray(np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8))
    glyph = src.crop((left, top, right, bottom)).resize((nw, nh), Image.Resampling.LANCZOS)
    fill = float(np.median(border(gray))) if background is None else background
    canvas = Image.new("L", (size, size), int(round(fill * 255)))
    # A glyph too wide for its rows keeps its middle where the box's middle is.
    y0 = target.top * k if nh >= round(rows) else (target.top + target.bottom) * k / 2 - nh / 2
    canvas.paste(glyph, (int(round((size - nw) / 2)), int(round(y0))))
    return np.asarray(canvas, np.float32) / 255.0


def frame_glyph(gray: np.ndarray, size: int = SIZE, choose: Chooser | None = None
                ) -> tuple[np.ndarray, str]:
    """Frame a light-on-dark glyph picture (any size) like the data set; returns the
    (size, size) picture and a note of what was done."""
    picture, _, note = frame_glyph_and_mask(gray, None, size, choose)
    return picture, note


def frame_glyph_and_mask(gray: np.ndarray, mask: np.ndarray | None, size: int = SIZE,
                         choose: Chooser | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """:func:`frame_glyph`, and ``mask`` (the picture's size, 1 = repaint) moved and scaled
    exactly as the glyph is, so it covers the same strokes (None stays None)."""
    box = ink_box(gray)
    if box is None:
        h, w = gray.shape
        side = min(h, w)
        crop = ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2)

        def square(a: np.ndarray) -> np.ndarray:
            img = Image.fromarray(np.asarray(a, np.float32), mode="F").crop(crop)
            return np.clip(np.asarray(img.resize((size, size), Image.Resampling.LANCZOS),
                                      np.float32), 0.0, 1.0)

        note = f"center-cropped {w}x{h} to square (no ink found)" if w != h else ""
        return square(gray), None if mask is None else square(mask), note
    candidates = np.stack([place(gray, box, b, size) for b in BOXES])
    k = choose(candidates[..., None]) if choose is not None else 0
    top, bottom, left, right = box
    note = (f"framed the glyph ({right - left}x{bottom - top} px of ink at {left},{top}) as "
            f"{BOXES[k].name}, as the data set frames its glyphs")
    moved = None if mask is None else place(np.clip(mask, 0.0, 1.0), box, BOXES[k], size,
                                            background=0.0)
    return candidates[k], moved, note


def classifier_chooser(classify: Callable[[np.ndarray], np.ndarray], chars: str) -> Chooser:
    """A chooser from a glyph classifier: ``classify`` maps (K, H, W, 1) to class
    probabilities (K, len(chars)). It keeps the placement whose best reading is a character
    of that placement's own kind, the one read most confidently."""
    members = [np.array([c in b.chars for c in chars]) for b in BOXES]

    def choose(candidates: np.ndarray) -> int:
        probs = classify(candidates)
        own = [float(probs[j][members[j]].max()) for j in range(len(BOXES))]
        return int(np.argmax(own))

    return choose


# The emoji set pads a picture's content to a square 6 % larger than its longer side.
OBJECT_PAD = 1.06


def object_box(rgb: np.ndarray, threshold: float = 0.12) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of what differs from the background (the border's median
    colour) in an (H, W, 3) picture in [0, 1]; None when the content reaches every edge (a
    photo: nothing to crop to) or there is none."""
    bg = np.median(border(rgb), axis=0)
    diff = np.abs(rgb - bg).sum(-1) > threshold
    r, c = diff.sum(1), diff.sum(0)
    if not r.any():
        return None
    rows = np.flatnonzero(r >= max(1, 0.02 * r.max()))
    cols = np.flatnonzero(c >= max(1, 0.02 * c.max()))
    box = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    h, w = rgb.shape[:2]
    if box[0] <= 1 and box[2] <= 1 and box[1] >= h - 1 and box[3] >= w - 1:
        return None
    return box


def frame_object(rgb: np.ndarray, size: int) -> tuple[np.ndarray, str] | None:
    """Crop an (H, W, 3) picture in [0, 1] to its content and pad it square on its
    background, as the emoji set frames its pictures; None when there is no content box."""
    box = object_box(rgb)
    if box is None:
        return None
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    side = max(1, int(max(h, w) * OBJECT_PAD))
    bg = tuple(int(round(v * 255)) for v in np.median(border(rgb), axis=0))
    src = Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))
    canvas = Image.new("RGB", (side, side), bg)
    canvas.paste(src.crop((left, top, right, bottom)), ((side - w) // 2, (side - h) // 2))
    out = canvas.resize((size, size), Image.Resampling.LANCZOS)
    note = f"cropped to the object ({w}x{h} px at {left},{top}) as the emoji set frames them"
    return np.asarray(out, np.float32) / 255.0, note
