"""Image files in and out: any picture converted to a model's shape, strips and GIFs out."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.files import save_picture
from models.image.framing import Chooser, border, frame_glyph, frame_object, is_framed


class ImageLoadError(ValueError):
    """A file that cannot be used as an image; the message names the file."""


# Pictures up to this many pixels are read (Pillow's decompression-bomb error threshold);
# larger ones get a clear message instead of a warning or an out-of-memory.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
# Larger pictures are reduced to about this many pixels a side as they are read: every model
# works at 64x64, so nothing is lost and a 10000x10000 scan costs no gigabytes.
WORK_SIDE = 2048
def open_picture(path: str | Path) -> tuple[Image.Image, str]:
    """Open and decode any picture Pillow knows, reduced to at most ``WORK_SIDE`` a side.

    Returns the loaded image and a note of the reduction ("" when none). Every problem is an
    :class:`ImageLoadError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w == 0 or h == 0:
                raise ImageLoadError(f"{path}: the image has no pixels")
            if w * h > MAX_PIXELS:
                raise ImageLoadError(f"{path}: {w}x{h} is too large (at most "
                                     f"{MAX_PIXELS / 1e6:.0f} megapixels); scale it down first")
            img.draft(img.mode, (WORK_SIDE, WORK_SIDE))   # JPEG decodes reduced, cheaply
            img.load()
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{path}: the image is too large (at most "
                             f"{MAX_PIXELS / 1e6:.0f} megapixels); scale it down first") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file the studio can read (PNG, JPEG, "
                             "WebP, GIF, BMP, TIFF...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageLoadError):
            raise
        raise ImageLoadError(f"{path}: damaged or unsupported image ({exc})") from None
    note = ""
    factor = max(img.size) // WORK_SIDE
    if factor > 1:
        img = img.reduce(factor)
    if img.size != (w, h):
        note = f"reduced {w}x{h} to {img.size[0]}x{img.size[1]}"
    return img, note


def read_picture_rgb(path: str | Path) -> np.ndarray:
    """A picture as (H, W, 3) uint8 for display, transparency over white."""
    img, _ = open_picture(path)
    return np.asarray(flatten_alpha(img).convert("RGB"), dtype=np.uint8)


def flatten_alpha(img: Image.Image) -> Image.Image:
    """Transparent pixels over white (as pictures are shown)."""
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        white.alpha_composite(img)
        return white
    return img


def to_model_image(img: Image.Image, shape: tuple[int, int, int], frame: bool = True,
                   choose: Chooser | None = None) -> tuple[np.ndarray, str]:
    """Convert a PIL image to ``shape`` (H, W, C) float32 in [0, 1].

    Gray models (glyphs: white ink on black) get the ink polarity of their training data,
    dark-on-light pictures being inverted, and the glyph is found and framed as the data set
    frames its glyphs (:func:`models.image.framing.frame_glyph`; ``choose`` picks among the
    data set's placements, e.g. with a glyph classifier), so a letter small and off-centre
    on a page reaches the model as the model's data would. RGB models get the picture
    cropped to its object and padded square as the emoji set does
    (:func:`models.image.framing.frame_object`), or, for a photo whose content reaches every
    edge, a center crop; then a resize. Transparent pixels become white. ``frame=False``
    only resizes (metrics feed images that are already a model's output).

    Returns
    -------
    (array, note)
        The image and a short note of what was changed ("" when nothing was).
    """
    h, w, c = shape
    notes = []
    img = flatten_alpha(ImageOps.exif_transpose(img))
    if c == 1:
        if img.mode != "L":
            notes.append("converted to gray")
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        if float(border(arr).mean()) > 0.5:
            notes.append("inverted to light-on-dark")
            arr = 1.0 - arr
        if frame and not (arr.shape == (h, w) and is_framed(arr)):
            arr, note = frame_glyph(arr, h, choose)
            notes.append(note or f"resized {img.size[0]}x{img.size[1]} to {w}x{h}")
        elif arr.shape != (h, w):
            notes.append(f"resized {img.size[0]}x{img.size[1]} to {w}x{h}")
            arr = np.asarray(Image.fromarray(arr, mode="F").resize(
                (w, h), Image.Resampling.BILINEAR), np.float32)
        return np.ascontiguousarray(arr[..., None]), "; ".join(notes)
    if frame:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        framed = frame_object(rgb, h)
        if framed is not None:
            notes.append(framed[1])
            return np.ascontiguousarray(framed[0]), "; ".join(notes)
    if img.size[0] != img.size[1]:
        notes.append(f"center-cropped {img.size[0]}x{img.size[1]} to square")
        img = ImageOps.fit(img, (min(img.size),) * 2, Image.Resampling.LANCZOS)
    if img.size != (w, h):
        notes.append(f"resized {img.size[0]}x{img.size[1]} to {w}x{h}")
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if img.mode != "RGB":
        notes.append("converted to RGB")
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr), "; ".join(notes)


def fit_picture(img: Image.Image, height: int, width: int) -> tuple[np.ndarray, str]:
    """A photo as (height, width, 3) float32 in [0, 1], nothing framed: cropped about its
    centre to the aspect when that differs, then resized; a note of what was done."""
    img = flatten_alpha(ImageOps.exif_transpose(img)).convert("RGB")
    w0, h0 = img.size
    note = ""
    if (w0, h0) != (width, height):
        same = abs(w0 / h0 - width / height) <= 0.01 * width / height
        note = f"{'resized' if same else 'cropped and resized'} {w0}x{h0} to {width}x{height}"
        img = ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(img, np.float32) / 255.0), note


def load_image(path: str | Path, shape: tuple[int, int, int],
               choose: Chooser | None = None) -> tuple[np.ndarray, str]:
    """Read any image file Pillow knows and convert it (see :func:`to_model_image`)."""
    img, note = open_picture(path)
    arr, more = to_model_image(img, shape, choose=choose)
    return arr, "; ".join(n for n in (note, more) if n)


def to_uint8(images: np.ndarray, invert_gray: bool = True) -> np.ndarray:
    """(N, H, W, C) in [0, 1] to uint8 RGB for display; gray glyphs shown dark on light."""
    x = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if x.shape[-1] == 1:
        if invert_gray:
            x = 1.0 - x
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray((x * 255.0 + 0.5).astype(np.uint8))


def _carrying(path: str | Path, recipe: Any) -> dict[str, Any]:
    """Save options that write ``recipe`` (models/recipe.py) into the picture."""
    if recipe is None:
        return {}
    from models.recipe import picture_options, recipe_text

    return picture_options(path, recipe_text(recipe, path))


def save_image(image: np.ndarray, path: str | Path, scale: int = 1, *,
               recipe: Any = None) -> Path:
    """One (H, W, C) image in [0, 1] to a PNG/JPEG, optionally enlarged ``scale`` times,
    with ``recipe`` in it (how to make it again)."""
    arr = to_uint8(image[None])[0]
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return save_picture(img, path, **_carrying(path, recipe))


def enlarge(arr: np.ndarray, scale: int, smooth: bool = False) -> np.ndarray:
    """(N, H, W, 3) uint8 frames ``scale`` times larger: pixel blocks (nearest) or smooth
    (bicubic), since a 64-pixel result is too small to use."""
    if scale <= 1:
        return arr
    method = Image.Resampling.BICUBIC if smooth else Image.Resampling.NEAREST
    return np.stack([np.asarray(Image.fromarray(a).resize(
        (a.shape[1] * scale, a.shape[0] * scale), method)) for a in arr])


def save_strip(images: np.ndarray, path: str | Path, gap: int = 2, scale: int = 1,
               smooth: bool = False, *, recipe: Any = None) -> Path:
    """(N, H, W, C) side by side, white gaps between, to one picture, ``scale`` times
    enlarged."""
    arr = enlarge(to_uint8(images), scale, smooth)
    gap *= max(1, scale)
    n, h, w, _ = arr.shape
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i in range(n):
        strip[:, i * (w + gap): i * (w + gap) + w] = arr[i]
    return save_picture(Image.fromarray(strip), path, **_carrying(path, recipe))


def save_gif(images: np.ndarray, path: str | Path, fps: float = 20.0, scale: int = 2,
             bounce: bool = True, smooth: bool = False, *, recipe: Any = None) -> Path:
    """(N, H, W, C) frames to a looping animated GIF, ``scale`` times enlarged; ``bounce``
    plays forward then back."""
    frames = [Image.fromarray(a) for a in enlarge(to_uint8(images), scale, smooth)]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    return save_picture(frames[0], path, save_all=True, append_images=frames[1:], loop=0,
                        duration=int(1000 / fps), optimize=False, disposal=2,
                        **_carrying(path, recipe))
