"""Spectrogram edits as replayable operations on a ln-mel array ``(n_mels, T)``.

An edit is a plain dict (JSON values and numpy arrays) so a session file can store the list and
replay it on the original mel. Coordinates are in frames (time) and mel bins (frequency).

- ``{"op": "brush", "points": [[t, f], ...], "size": r, "softness": s, "gain_db": g}``
  adds ``g`` dB under a round brush of radius ``r`` along the stroke; softness in [0, 1] is the
  fraction of the radius over which the effect fades out. With ``"from_db": b`` a positive
  gain adds to at least ``b`` dB (the editor's lowest shown level), so painting on silence
  makes energy there.
- ``{"op": "erase", "points": ..., "size": r, "softness": s}``: pulls the level to the floor.
- ``{"op": "gain", "rect": [t0, t1, f0, f1], "gain_db": g}``: a selection louder or softer.
- ``{"op": "delete", "rect": [...]}``: a selection to the floor.
- ``{"op": "paste", "patch": array, "at": [t, f]}``: a copied patch written at ``(t, f)``.
- ``{"op": "move", "rect": [...], "to": [t, f]}``: a selection moved; the hole goes to the floor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOOR = math.log(1e-5)          # the analysis' log floor: silence
DB_TO_LN = math.log(10.0) / 20.0


def _stroke_weight(shape: tuple[int, int], points: list, size: float, softness: float
                   ) -> np.ndarray:
    """Brush coverage in [0, 1] over ``(bins, frames)``: max over the stroke's dabs."""
    bins, frames = shape
    w = np.zeros(shape, np.float32)
    r = max(float(size), 0.5)
    soft = min(max(float(softness), 0.0), 1.0)
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    # Fill gaps between stroke points so a fast drag still paints a continuous line.
    dense = [pts[0]] if len(pts) else []
    for a, b in zip(pts[:-1], pts[1:]):
        n = int(np.ceil(np.abs(b - a).max() / max(r / 2, 0.5)))
        dense.extend(a + (b - a) * k / max(n, 1) for k in range(1, n + 1))
    for t, f in dense:
        t0, t1 = max(0, int(t - r - 1)), min(frames, int(t + r + 2))
        f0, f1 = max(0, int(f - r - 1)), min(bins, int(f + r + 2))
        if t0 >= t1 or f0 >= f1:
            continue
        tt, ff = np.meshgrid(np.arange(t0, t1), np.arange(f0, f1))
        d = np.sqrt((tt - t) ** 2 + (ff - f) ** 2) / r
        inner = 1.0 - soft
        dab = np.where(d <= inner, 1.0,
                       np.clip((1.0 - d) / max(soft, 1e-6), 0.0, 1.0)).astype(np.float32)
        np.maximum(w[f0:f1, t0:t1], dab, out=w[f0:f1, t0:t1])
    return w


def _rect(mel: np.ndarray, rect) -> tuple[slice, slice]:
    t0, t1, f0, f1 = (int(round(v)) for v in rect)
    t0, t1 = sorted((t0, t1))
    f0, f1 = sorted((f0, f1))
    bins, frames = mel.shape
    return slice(max(0, f0), min(bins, f1)), slice(max(0, t0), min(frames, t1))


def copy_patch(mel: np.ndarray, rect) -> np.ndarray:
    fs, ts = _rect(mel, rect)
    return mel[fs, ts].copy()


def _write(mel: np.ndarray, patch: np.ndarray, at) -> None:
    t, f = int(round(at[0])), int(round(at[1]))
    bins, frames = mel.shape
    ph, pw = patch.shape
    f0, t0 = max(0, f), max(0, t)
    f1, t1 = min(bins, f + ph), min(frames, t + pw)
    if f0 < f1 and t0 < t1:
        mel[f0:f1, t0:t1] = patch[f0 - f:f1 - f, t0 - t:t1 - t]


def apply(mel: np.ndarray, op: dict[str, Any]) -> np.ndarray:
    """A new array with one edit applied (the input is left as it is)."""
    out = np.array(mel, np.float32, copy=True)
    kind = op.get("op")
    if kind == "brush":
        w = _stroke_weight(out.shape, op["points"], op["size"], op.get("softness", 0.5))
        gain = float(op["gain_db"]) * DB_TO_LN
        if "from_db" in op and gain > 0:
            # Adding energy where there is next to none (silence, far below what is shown)
            # starts from ``from_db``: the stroke is heard and seen, not lost under the floor.
            base = np.maximum(out, float(op["from_db"]) * DB_TO_LN)
            out = out * (1.0 - w) + (base + gain) * w
        else:
            out += w * gain
    elif kind == "erase":
        w = _stroke_weight(out.shape, op["points"], op["size"], op.get("softness", 0.5))
        out = out * (1 - w) + FLOOR * w
    elif kind == "gain":
        fs, ts = _rect(out, op["rect"])
        out[fs, ts] += float(op["gain_db"]) * DB_TO_LN
    elif kind == "delete":
        fs, ts = _rect(out, op["rect"])
        out[fs, ts] = FLOOR
    elif kind == "paste":
        _write(out, np.asarray(op["patch"], np.float32), op["at"])
    elif kind == "move":
        patch = copy_patch(out, op["rect"])
        fs, ts = _rect(out, op["rect"])
        out[fs, ts] = FLOOR
        _write(out, patch, op["to"])
    else:
        raise ValueError(f"unknown edit '{kind}'")
    return np.maximum(out, FLOOR)


def replay(mel: np.ndarray, ops: list[dict[str, Any]]) -> np.ndarray:
    """The original mel with every edit applied in order."""
    out = np.asarray(mel, np.float32)
    for op in ops:
        out = apply(out, op)
    return out


def frames_touched(ops: list[dict[str, Any]], frames: int) -> tuple[int, int] | None:
    """First and one-past-last frame any of ``ops`` changed, or ``None``."""
    lo, hi = frames, 0
    for op in ops:
        kind = op.get("op")
        if kind in ("brush", "erase"):
            pts = np.asarray(op["points"], np.float32).reshape(-1, 2)
            r = float(op["size"]) + 1
            lo, hi = min(lo, int(pts[:, 0].min() - r)), max(hi, int(np.ceil(pts[:, 0].max() + r)))
        elif kind in ("gain", "delete", "move"):
            t0, t1 = sorted((op["rect"][0], op["rect"][1]))
            lo, hi = min(lo, int(t0)), max(hi, int(np.ceil(t1)))
            if kind == "move":
                w = t1 - t0
                lo, hi = min(lo, int(op["to"][0])), max(hi, int(np.ceil(op["to"][0] + w)))
        elif kind == "paste":
            w = np.shape(op["patch"])[1]
            lo, hi = min(lo, int(op["at"][0])), max(hi, int(op["at"][0]) + w)
    lo, hi = max(0, lo), min(frames, hi)
    return (lo, hi) if lo < hi else None


def splice(base: np.ndarray, new: np.ndarray, start: int, fade: int) -> np.ndarray:
    """``base`` with ``new`` written from sample ``start``, raised-cosine crossfades of
    ``fade`` samples at both joins (clipped at the clip's ends)."""
    out = np.array(base, np.float32, copy=True)
    end = min(out.size, start + new.size)
    new = np.asarray(new[: end - start], np.float32)
    if new.size == 0:
        return out
    w = np.ones(new.size, np.float32)
    f = min(fade, new.size // 2)
    if f > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(f) + 0.5) / f)
        if start > 0:
            w[:f] = ramp
        if end < out.size:
            w[-f:] = ramp[::-1]
    out[start:end] = out[start:end] * (1 - w) + new * w
    return out
