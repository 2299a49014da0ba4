"""Latent-space paths: linear and spherical interpolation, a bilinear pad, arithmetic."""

from __future__ import annotations

import numpy as np


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """(1 - t) a + t b; ``t`` scalar or (N,), latents (D,). Returns (D,) or (N, D)."""
    t = np.asarray(t, dtype=np.float32)[..., None] if np.ndim(t) else np.float32(t)
    return ((1 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation along the great circle, norms interpolated linearly.

    Falls back to :func:`lerp` when the two directions are (anti)parallel.
    """
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(np.dot(ua, ub), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    tt = np.asarray(t, dtype=np.float64)
    col = tt[..., None] if tt.ndim else tt
    direction = (np.sin((1 - col) * omega) * ua + np.sin(col * omega) * ub) / np.sin(omega)
    return (direction * ((1 - col) * na + col * nb)).astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, t: float | np.ndarray, mode: str) -> np.ndarray:
    if mode == "linear":
        return lerp(a, b, t)
    if mode == "slerp":
        return slerp(a, b, t)
    raise ValueError(f"unknown interpolation mode '{mode}' (linear or slerp)")


def path(a: np.ndarray, b: np.ndarray, steps: int, mode: str) -> np.ndarray:
    """``steps`` latents (steps, D) from a to b inclusive."""
    if steps < 2:
        raise ValueError(f"--steps must be at least 2, got {steps}")
    return interpolate(a, b, np.linspace(0.0, 1.0, steps), mode)


def bilinear(corners: np.ndarray, u: float, v: float) -> np.ndarray:
    """Blend of four corner latents (4, D): top-left, top-right, bottom-left, bottom-right,
    at (u, v) in [0, 1]^2 with u to the right and v downwards."""
    tl, tr, bl, br = corners
    top = (1 - u) * tl + u * tr
    bottom = (1 - u) * bl + u * br
    return ((1 - v) * top + v * bottom).astype(np.float32)


def arithmetic(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A - B + C (e.g. bold A - regular A + regular g = bold g)."""
    return (a - b + c).astype(np.float32)
