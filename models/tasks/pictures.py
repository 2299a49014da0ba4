"""A user's picture as a latent model receives it, and how far it is from the model's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from models.data.glyphs import CHARS
from models.image.framing import Chooser, classifier_chooser
from models.image.io import fit_picture, open_picture, to_model_image
from models.protocol import Capability
from models.registry import Registry

# A picture whose reconstruction error is this many times the model's mean test error (its
# card's test_mse_vae, or test_mse_recon for a style generator) is unlike its data: on the
# glyph VAE, 99% of test glyphs stay under 7x,
# while photos, scribbles and words land at 10-50x.
FAR_FACTOR = 8.0


def glyph_chooser(registry: Registry, shape: tuple[int, int, int]) -> Chooser | None:
    """A framing chooser from a registered glyph classifier of ``shape`` (None if none)."""
    if shape[-1] != 1:
        return None
    for info in registry.infos(Capability.FEATURES):
        if tuple(info.image_shape) == tuple(shape) and info.classes == tuple(CHARS):
            clf = registry.get(info.name)
            return classifier_chooser(lambda x, c=clf: c.run(x)[1], CHARS)
    return None


def picture_for_model(registry: Registry, model: str, picture: Image.Image | np.ndarray
                      ) -> tuple[np.ndarray, str]:
    """(H, W, C) float32 in [0, 1] as ``model`` receives ``picture``, and a note of what was
    done to it (framing a glyph uses the glyph classifier when one is registered; a model
    that takes pictures at their own size gets the photo unframed, cropped only to its
    view's aspect)."""
    info = registry.info(model)
    shape = tuple(info.image_shape)
    img = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    if Capability.ANY_SIZE in info.capabilities:
        if len(shape) != 3:
            raise ValueError(f"{model} takes pictures at their own size: use one of its "
                             "sized views (Registry.sized)")
        return fit_picture(img, shape[0], shape[1])
    return to_model_image(img, shape, choose=glyph_chooser(registry, shape))


def read_for_model(registry: Registry, model: str, path: str | Path
                   ) -> tuple[np.ndarray, str]:
    """An image file as ``model`` receives it, with a note (see :func:`picture_for_model`)."""
    img, note = open_picture(path)
    arr, more = picture_for_model(registry, model, img)
    return arr, "; ".join(n for n in (note, more) if n)


def sized_for_file(registry: Registry, model: str, path: str | Path) -> str:
    """``model``, or its view at the size of the picture in ``path`` (a model whose latents
    follow the picture's size: see :meth:`Registry.sized`)."""
    if Capability.ANY_SIZE not in registry.info(model).capabilities:
        return model
    img, _ = open_picture(path)
    w, h = ImageOps.exif_transpose(img).size
    return registry.sized(model, h, w)


def far_warning(registry: Registry, model: str, image: np.ndarray, recon: np.ndarray) -> str:
    """A sentence when ``image`` (H, W, C) is far from what ``model`` knows, judged by how
    badly it reconstructs against the model's own test error; "" otherwise."""
    metrics = registry.info(model).metrics
    typical = metrics.get("test_mse_vae") or metrics.get("test_mse_recon")
    if not typical:
        return ""
    err = float(np.mean((np.asarray(recon, np.float64) - np.asarray(image, np.float64)) ** 2))
    ratio = err / float(typical)
    if ratio <= FAR_FACTOR:
        return ""
    return (f"this picture is far from what {model} was trained on (reconstruction error "
            f"{ratio:.0f}x its test average); expect a poor reconstruction")
