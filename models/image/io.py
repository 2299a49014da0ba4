"""Image files in and out: any picture converted to a model's shape, strips and GIFs out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageLoadError(ValueError):
    """A file that cannot be used as an image; the message names the file."""


def to_model_image(img: Image.Image, shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """Convert a PIL image to ``shape`` (H, W, C) float32 in [0, 1].

    Center-crops to square, resizes, and converts to gray or RGB. Transparent pixels become
    white for RGB models; gray models (glyphs: white ink on black) get the ink polarity of
    their training data, dark-on-light pictures being inverted.

    Returns
    -------
    (array, note)
        The image and a short note of what was changed ("" when nothing was).
    """
    h, w, c = shape
    notes = []
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        white.alpha_composite(img)
        img = white
    if img.size[0] != img.size[1]:
        notes.append(f"center-cropped {img.size[0]}x{img.size[1]} to square")
        img = ImageOps.fit(img, (min(img.size),) * 2, Image.Resampling.LANCZOS)
    if img.size != (w, h):
        notes.append(f"resized {img.size[0]}x{img.size[1]} to {w}x{h}")
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if c == 1:
        if img.mode != "L":
            notes.append("converted to gray")
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        if _border_mean(arr) > 0.5:
            notes.append("inverted to light-on-dark")
            arr = 1.0 - arr
        arr = arr[..., None]
    else:
        if img.mode != "RGB":
            notes.append("converted to RGB")
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr), "; ".join(notes)


def _border_mean(arr: np.ndarray) -> float:
    edge = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return float(edge.mean())


def load_image(path: str | Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """Read any image file Pillow knows and convert it (see :func:`to_model_image`)."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty")
    try:
        with Image.open(path) as img:
            img.load()
            if img.size[0] == 0 or img.size[1] == 0:
                raise ImageLoadError(f"{path}: the image has no pixels")
            return to_model_image(img, shape)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageLoadError):
            raise
        raise ImageLoadError(f"{path}: damaged or unsupported image ({exc})") from None


def to_uint8(images: np.ndarray, invert_gray: bool = True) -> np.ndarray:
    """(N, H, W, C) in [0, 1] to uint8 RGB for display; gray glyphs shown dark on light."""
    x = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if x.shape[-1] == 1:
        if invert_gray:
            x = 1.0 - x
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray((x * 255.0 + 0.5).astype(np.uint8))


def save_image(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """One (H, W, C) image in [0, 1] to a PNG/JPEG, optionally enlarged ``scale`` times."""
    arr = to_uint8(image[None])[0]
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    img.save(path)
    return Path(path)


def save_strip(images: np.ndarray, path: str | Path, gap: int = 2) -> Path:
    """(N, H, W, C) side by side, white gaps between, to one picture."""
    arr = to_uint8(images)
    n, h, w, _ = arr.shape
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i in range(n):
        strip[:, i * (w + gap): i * (w + gap) + w] = arr[i]
    Image.fromarray(strip).save(path)
    return Path(path)


def save_gif(images: np.ndarray, path: str | Path, fps: float = 20.0, scale: int = 2,
             bounce: bool = True) -> Path:
    """(N, H, W, C) frames to a looping animated GIF; ``bounce`` plays forward then back."""
    arr = to_uint8(images)
    frames = [Image.fromarray(a) for a in arr]
    if scale > 1:
        frames = [f.resize((f.width * scale, f.height * scale), Image.Resampling.NEAREST)
                  for f in frames]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    frames[0].save(path, save_all=True, append_images=frames[1:], loop=0,
                   duration=int(1000 / fps), optimize=False, disposal=2)
    return Path(path)
