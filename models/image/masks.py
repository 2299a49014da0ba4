"""Mask painting for inpainting: float32 masks (H, W) in [0, 1], 1 = repaint.

Every operation returns a new mask (the caller keeps the old one for undo). Coordinates are
pixels of the mask, x to the right and y down; brush sizes are radii in pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def empty(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width), np.float32)


def _disc_stamp(mask: np.ndarray, points: np.ndarray, radius: float, hardness: float
                ) -> np.ndarray:
    """Coverage (H, W) in [0, 1] of discs at ``points`` (N, 2 as x, y): 1 inside
    ``hardness * radius``, falling linearly to 0 at ``radius``."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cover = np.zeros((h, w), np.float32)
    inner = max(0.0, min(1.0, hardness)) * radius
    for x, y in points:
        d = np.hypot(xx - x, yy - y)
        if radius - inner > 1e-6:
            c = np.clip((radius - d) / (radius - inner), 0.0, 1.0)
        else:
            c = (d <= radius).astype(np.float32)
        np.maximum(cover, c, out=cover)
    return cover


def _along(x0: float, y0: float, x1: float, y1: float, radius: float) -> np.ndarray:
    """Points on the segment, at most a quarter radius apart (a smooth stroke)."""
    n = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / max(radius / 4, 0.5))))
    t = np.linspace(0.0, 1.0, n + 1)
    return np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t], axis=1)


def brush(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, radius: float,
          hardness: float = 1.0) -> np.ndarray:
    """Paint a stroke from (x0, y0) to (x1, y1)."""
    cover = _disc_stamp(mask, _along(x0, y0, x1, y1, radius), radius, hardness)
    return np.maximum(mask, cover).astype(np.float32)


def erase(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, radius: float,
          hardness: float = 1.0) -> np.ndarray:
    """Erase along a stroke (the eraser is a brush that takes paint away)."""
    cover = _disc_stamp(mask, _along(x0, y0, x1, y1, radius), radius, hardness)
    return np.minimum(mask, 1.0 - cover).astype(np.float32)


def rectangle(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float,
              value: float = 1.0) -> np.ndarray:
    """Set the rectangle between two corners (either order, inclusive) to ``value``."""
    h, w = mask.shape
    xa, xb = sorted((int(round(x0)), int(round(x1))))
    ya, yb = sorted((int(round(y0)), int(round(y1))))
    out = mask.copy()
    out[max(ya, 0):min(yb + 1, h), max(xa, 0):min(xb + 1, w)] = value
    return out


def fill(mask: np.ndarray, x: float, y: float) -> np.ndarray:
    """Flood-fill: the region of unpainted pixels (< 0.5) connected to (x, y) becomes 1, so
    an outline drawn around something fills in one click. On painted pixels: unchanged."""
    h, w = mask.shape
    xi, yi = int(round(x)), int(round(y))
    if not (0 <= xi < w and 0 <= yi < h) or mask[yi, xi] >= 0.5:
        return mask.copy()
    labels, _ = ndimage.label(mask < 0.5)
    out = mask.copy()
    out[labels == labels[yi, xi]] = 1.0
    return out


def invert(mask: np.ndarray) -> np.ndarray:
    return (1.0 - mask).astype(np.float32)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (pixels > 0) or shrink (pixels < 0) the mask by that many pixels (a disc)."""
    if pixels == 0:
        return mask.copy()
    r = abs(int(pixels))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (xx * xx + yy * yy) <= r * r
    if pixels > 0:
        return ndimage.grey_dilation(mask, footprint=disc).astype(np.float32)
    return ndimage.grey_erosion(mask, footprint=disc, mode="nearest").astype(np.float32)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften the mask's edge by a Gaussian blur of ``radius`` pixels (sigma = radius / 2)."""
    if radius <= 0:
        return mask.copy()
    return np.clip(ndimage.gaussian_filter(mask, sigma=radius / 2.0, mode="nearest"),
                   0.0, 1.0).astype(np.float32)


def resize(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A mask (any size; e.g. a user's MASK.png, white = repaint) at the model's size."""
    from PIL import Image

    img = Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8))
    img = img.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, np.float32) / 255.0
