"""Inpainting as the panel and the CLI use it: a user's picture and mask at a model's size, a
run with named options, and the options written beside the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from models.image import masks as mk
from models.image.framing import border
from models.image.io import flatten_alpha, open_picture, to_model_image, to_uint8
from models.protocol import Capability, InpaintRequest, JobContext
from models.registry import Registry
from models.samplers.repaint import FEATHER, PRESETS, network_calls


def inpaint_model(registry: Registry, name: str) -> None:
    """Raise ValueError when ``name`` cannot inpaint."""
    info = registry.info(name)
    if Capability.INPAINT not in info.capabilities:
        raise ValueError(f"model '{name}' does not inpaint (it is a {info.family})")


@dataclass(frozen=True)
class InpaintOptions:
    """How to sample; ``steps`` 0 takes the RePaint preset's."""

    sampler: str = "ddim"
    steps: int = 0
    repaint: str = "none"             # a key of PRESETS
    guidance: float = 1.0
    label: int | None = None          # class index, None: no class
    seed: int = 0
    feather: float = FEATHER.default

    def __post_init__(self) -> None:
        if self.repaint not in PRESETS:
            raise ValueError(f"unknown RePaint preset '{self.repaint}' (one of "
                             f"{', '.join(PRESETS)})")
        if self.steps < 0:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if not FEATHER.minimum <= self.feather <= FEATHER.maximum:
            raise ValueError(f"feather must be {FEATHER.minimum:g} to {FEATHER.maximum:g} px, not "
                             f"{self.feather:g}")

    @property
    def total_steps(self) -> int:
        return self.steps or PRESETS[self.repaint].steps

    @property
    def calls(self) -> int:
        """Network calls the run makes (each is one step of progress and one preview)."""
        p = PRESETS[self.repaint]
        return network_calls(self.total_steps, p.jump, p.resamples)

    def request(self, image: np.ndarray, mask: np.ndarray) -> InpaintRequest:
        p = PRESETS[self.repaint]
        return InpaintRequest(image, mask, steps=self.total_steps, sampler=self.sampler,
                              guidance=self.guidance, label=self.label, seed=self.seed,
                              repaint_jumps=p.jump, repaint_resamples=p.resamples)

    def describe(self, classes: tuple[str, ...] = ()) -> dict[str, Any]:
        """The options as text values (PNG metadata, the history strip's tooltips)."""
        d = {k: str(v) for k, v in asdict(self).items() if k != "label"}
        d["steps"] = str(self.total_steps)
        d["class"] = "none" if self.label is None else (
            classes[self.label] if self.label < len(classes) else str(self.label))
        d["network_calls"] = str(self.calls)
        return d


def parse_class(text: str | None, classes: tuple[str, ...]) -> int | None:
    """A class given as its label ("g") or index ("32"); "" / "none" / None: no class."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    if not classes:
        raise ValueError("this model takes no class (it is unconditional)")
    if text in classes:
        return classes.index(text)
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    shown = "".join(classes) if all(len(c) == 1 for c in classes) else ", ".join(classes)
    raise ValueError(f"class '{text}' is not one of this model's: {shown}")


def _square(img: Image.Image) -> Image.Image:
    """The centre square of a picture (picture and mask get the same crop)."""
    side = min(img.size)
    left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
    return img.crop((left, top, left + side, top + side))


def mask_from_picture(img: Image.Image) -> np.ndarray:
    """A mask picture as (H, W) float32 in [0, 1]: white = repaint; where it has
    transparency, transparent counts as keep."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA", "P"):
        rgba = np.asarray(img.convert("RGBA"), np.float32) / 255.0
        lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.ascontiguousarray(lum * rgba[..., 3])
    return np.asarray(img.convert("L"), np.float32) / 255.0


@dataclass(frozen=True, eq=False)
class Prepared:
    image: np.ndarray           # (H, W, C) float32 in [0, 1], as the model takes it
    mask: np.ndarray            # (H, W) float32 in [0, 1], 1 = repaint
    note: str                   # what was done to the picture ("" when nothing)
    dark_on_light: bool         # a gray picture that was inverted: show results so again

    def shown(self, image: np.ndarray) -> np.ndarray:
        """A result (H, W, C) in [0, 1] as uint8 RGB in the picture's own polarity."""
        return to_uint8(image[None], invert_gray=self.dark_on_light)[0]


def dark_on_light(picture: Image.Image, shape: tuple[int, int, int]) -> bool:
    """What :func:`to_model_image` inverts: a gray model's picture with a light border."""
    if shape[-1] != 1:
        return False
    gray = np.asarray(flatten_alpha(picture).convert("L"), np.float32) / 255.0
    return float(border(gray).mean()) > 0.5


def picture_and_mask(shape: tuple[int, int, int], picture: Image.Image,
                     mask: Image.Image | np.ndarray | None = None) -> Prepared:
    """A picture (and its mask, any size) at the model's ``shape``: centre-cropped square
    alike, resized (no glyph framing: the mask must stay where it was drawn); gray models
    get their light-on-dark polarity."""
    h, w, _ = shape
    notes = []
    if picture.size[0] != picture.size[1]:
        notes.append(f"centre-cropped {picture.size[0]}x{picture.size[1]} to square")
        picture = _square(picture)
    image, note = to_model_image(picture, shape, frame=False)
    notes.append(note)
    if mask is None:
        m = mk.empty(h, w)
    else:
        if isinstance(mask, Image.Image):
            if mask.size[0] != mask.size[1]:
                mask = _square(mask)
            m = mask_from_picture(mask)
        else:
            m = np.asarray(mask, np.float32)
        if m.shape != (h, w):
            m = mk.resize(m, h, w)
    return Prepared(image, np.clip(m, 0.0, 1.0).astype(np.float32),
                    "; ".join(n for n in notes if n), dark_on_light(picture, shape))


def can_frame_glyph(registry: Registry, model: str) -> bool:
    """Whether ``model`` paints glyphs (gray pictures at a fixed size): "frame as a glyph"
    is an option only for such a model."""
    info = registry.info(model)
    return (Capability.PROMPT not in info.capabilities
            and tuple(info.image_shape)[-1:] == (1,))


def _mask_array(mask: Image.Image | np.ndarray, h: int, w: int) -> np.ndarray:
    m = mask_from_picture(mask) if isinstance(mask, Image.Image) else np.asarray(mask,
                                                                                 np.float32)
    return m if m.shape == (h, w) else mk.resize(m, h, w)


def prepare(registry: Registry, model: str, picture: Image.Image,
            mask: Image.Image | np.ndarray | None = None, frame_glyph: bool = False
            ) -> Prepared:
    """A user's picture (and mask) as ``model`` takes it: the one way the panel and the
    CLI both read a picture, so the same input gives the same result in both.

    * a model that takes a prompt (Stable Diffusion): its own size, in colour;
    * otherwise centre-cropped square and resized (:func:`picture_and_mask`);
    * ``frame_glyph`` (glyph models only, an explicit option): the glyph is found and
      framed as the data set frames its glyphs, the mask moved with it."""
    info = registry.info(model)
    shape = tuple(info.image_shape)
    if Capability.PROMPT in info.capabilities:
        img = flatten_alpha(ImageOps.exif_transpose(picture)).convert("RGB")
        rgb = np.ascontiguousarray(np.asarray(img, np.float32) / 255.0)
        h, w = rgb.shape[:2]
        m = mk.empty(h, w) if mask is None else _mask_array(mask, h, w)
        return Prepared(rgb, np.clip(m, 0.0, 1.0).astype(np.float32), "", False)
    if not frame_glyph:
        return picture_and_mask(shape, picture, mask)
    if not can_frame_glyph(registry, model):
        raise ValueError(f"'frame as a glyph' is for glyph models (gray pictures); '{model}' "
                         f"takes {shape[-1]}-channel pictures")
    from models.image.framing import frame_glyph_and_mask, is_framed
    from models.tasks.pictures import glyph_chooser

    img = flatten_alpha(ImageOps.exif_transpose(picture))
    notes = [] if img.mode == "L" else ["converted to gray"]
    gray = np.asarray(img.convert("L"), np.float32) / 255.0
    if float(border(gray).mean()) > 0.5:
        notes.append("inverted to light-on-dark")
        gray = 1.0 - gray
    m = None if mask is None else _mask_array(mask, *gray.shape)
    size = shape[0]
    if gray.shape == (size, size) and is_framed(gray):
        framed, moved = gray, m
    else:
        framed, moved, note = frame_glyph_and_mask(gray, m, size,
                                                   glyph_chooser(registry, shape))
        notes.append(note)
    moved = mk.empty(size, size) if moved is None else moved
    return Prepared(np.ascontiguousarray(framed[..., None], dtype=np.float32),
                    np.clip(moved, 0.0, 1.0).astype(np.float32),
                    "; ".join(n for n in notes if n), dark_on_light(picture, shape))


def read_pair(registry: Registry, model: str, image_path: str | Path,
              mask_path: str | Path | None, frame_glyph: bool = False) -> Prepared:
    """Files as :func:`prepare` takes them (errors name the file)."""
    img, note = open_picture(image_path)
    mask = open_picture(mask_path)[0] if mask_path is not None else None
    p = prepare(registry, model, img, mask, frame_glyph)
    return Prepared(p.image, p.mask, "; ".join(n for n in (note, p.note) if n),
                    p.dark_on_light)


def run(registry: Registry, model: str, image: np.ndarray, mask: np.ndarray,
        options: InpaintOptions, *, ctx: JobContext | None = None) -> np.ndarray:
    """The picture with the masked part repainted, (H, W, C) float32 in [0, 1]."""
    inpaint_model(registry, model)
    if float(mask.max(initial=0.0)) <= 0.01:
        raise ValueError("the mask is empty: paint where the model should repaint "
                         "(white = repaint)")
    return registry.get(model).inpaint(options.request(image, mask), ctx=ctx,
                                       feather=options.feather)


def save_with_metadata(image_rgb: np.ndarray, path: str | Path, meta: dict[str, str],
                       scale: int = 1, recipe: Any = None) -> Path:
    """An (H, W, 3) uint8 picture as PNG with ``meta`` as text chunks (what made it),
    written atomically: to a temporary name beside it, renamed once complete, so a full
    disk or a kill leaves no half-written picture."""
    from models.files import save_picture
    from models.recipe import picture_options, recipe_text

    img = Image.fromarray(np.ascontiguousarray(image_rgb, np.uint8))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    return save_picture(img, path, **picture_options(path, recipe_text(recipe, path), meta))
