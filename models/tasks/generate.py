"""Prompted generation as the panel and the CLI use it: text-to-image, img2img and inpainting
with a Stable Diffusion model at the picture's own size.

One function decides sizes for both: a picture is worked on at its own size rounded to
multiples of 8 (or, "only masked", a crop around the mask at the model's native size), and
the result comes back at the picture's own size. Inpainting keeps every unmasked pixel
exactly: the result is pasted over the picture through the mask, feathered inward by "mask
blur" pixels (diffusers' pipeline alone sends the whole picture through the VAE).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from models.image import masks as mk
from models.protocol import Capability, GenerateRequest, JobContext
from models.registry import Registry

SCHEDULER_NAMES = ("default", "ddim", "euler", "euler-a", "dpm++2m", "dpm++2m-karras", "lcm",
                   "pndm")
MIN_SIDE = 64
MAX_SIDE = 4096


def prompt_model(registry: Registry, name: str) -> None:
    """Raise ValueError when ``name`` takes no prompt."""
    info = registry.info(name)
    if Capability.PROMPT not in info.capabilities:
        raise ValueError(f"model '{name}' takes no prompt (it is a {info.family}); open a "
                         "Stable Diffusion checkpoint")


@dataclass(frozen=True)
class GenerateOptions:
    """Everything a prompted run takes besides its picture and mask.

    ``width``/``height`` 0: the picture's own size (text-to-image: the model's native size);
    set, they are the size of a text-to-image or img2img result, and the working size of an
    inpainting run, whose result is always the picture's own size (its pixels kept).
    ``strength`` None: 1.0 for inpainting and text-to-image, 0.75 for img2img.
    """

    prompt: str = ""
    negative: str = ""
    steps: int = 25
    guidance: float = 7.5
    scheduler: str = "default"
    seed: int = 0
    width: int = 0
    height: int = 0
    strength: float | None = None
    mask_blur: float = 4.0
    only_masked: bool = False
    padding: int = 32
    loras: tuple[tuple[str, float], ...] = field(default=())
    batch: int = 1
    preview_decode_every: int = 0
    embeddings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULER_NAMES:
            raise ValueError(f"unknown scheduler '{self.scheduler}' (one of "
                             f"{', '.join(SCHEDULER_NAMES)})")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"steps must be 1 to 1000, not {self.steps}")
        if not 0.0 <= self.guidance <= 50.0:
            raise ValueError(f"guidance must be 0 to 50, not {self.guidance:g}")
        if self.strength is not None and not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be above 0 and at most 1, not {self.strength:g}")
        if self.mask_blur < 0 or self.padding < 0:
            raise ValueError("mask blur and padding cannot be negative")
        if not 1 <= self.batch <= 64:
            raise ValueError(f"batch count must be 1 to 64, not {self.batch}")
        for side in (self.width, self.height):
            if side and not MIN_SIDE <= side <= MAX_SIDE:
                raise ValueError(f"sizes are {MIN_SIDE} to {MAX_SIDE} pixels, not {side}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"the seed must be 0 to 2^63-1, not {self.seed}")

    def resolved_strength(self, has_picture: bool, has_mask: bool) -> float:
        if self.strength is not None:
            return float(self.strength)
        return 0.75 if has_picture and not has_mask else 1.0

    def describe(self) -> dict[str, str]:
        """The options as text values (PNG metadata, the history strip's tooltips)."""
        d = {k: str(v) for k, v in asdict(self).items() if k not in ("loras", "embeddings")}
        d["loras"] = ", ".join(f"{p}:{w:g}" for p, w in self.loras)
        d["embeddings"] = ", ".join(self.embeddings)
        return d


def round8(side: int) -> int:
    """A side rounded to the nearest multiple of 8 (at least 8)."""
    return max(8, int(round(side / 8.0)) * 8)


def feather_alpha(mask: np.ndarray, blur: float) -> np.ndarray:
    """How much of the result shows, (H, W) in [0, 1]: 0 wherever the mask keeps the
    picture (below 0.5, as the pipeline reads it), rising inward over ``blur`` pixels to 1."""
    region = np.asarray(mask, np.float32) >= 0.5
    if blur <= 0:
        return region.astype(np.float32)
    from scipy.ndimage import distance_transform_edt

    inside = distance_transform_edt(region)
    return np.clip(inside / float(blur), 0.0, 1.0).astype(np.float32)


def paste(picture: np.ndarray, result: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``result`` over ``picture`` through ``alpha``; pixels where alpha is 0 are the
    picture's own, bit for bit."""
    a = alpha[..., None]
    out = picture * (1.0 - a) + result * a
    return np.where(a > 0, out, picture).astype(np.float32)


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """(H, W, C) float in [0, 1] resized with Lanczos (unchanged at the same size)."""
    if image.shape[1] == w and image.shape[0] == h:
        return image
    img = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.Resampling.LANCZOS), np.float32) / 255.0


def crop_box(mask: np.ndarray, padding: int, native: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around the mask's region with ``padding``, widened toward
    a square (the model's native shape) as far as the picture allows."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask >= 0.5)
    if len(xs) == 0:
        return 0, 0, w, h
    left, right = max(0, int(xs.min()) - padding), min(w, int(xs.max()) + 1 + padding)
    top, bottom = max(0, int(ys.min()) - padding), min(h, int(ys.max()) + 1 + padding)
    side = max(right - left, bottom - top, min(native, w, h) // 2)

    def widen(lo: int, hi: int, size: int) -> tuple[int, int]:
        need = min(side, size) - (hi - lo)
        if need <= 0:
            return lo, hi
        lo -= need // 2
        hi += need - need // 2
        if lo < 0:
            hi, lo = hi - lo, 0
        if hi > size:
            lo, hi = max(0, lo - (hi - size)), size
        return lo, hi

    left, right = widen(left, right, w)
    top, bottom = widen(top, bottom, h)
    return left, top, right, bottom


def work_size(w: int, h: int, native: int) -> tuple[int, int]:
    """A crop's working size: its longer side at ``native``, aspect kept, multiples of 8."""
    scale = native / max(w, h)
    return round8(w * scale), round8(h * scale)


@dataclass(frozen=True)
class Plan:
    """Where a run works: the box of the picture it covers and the size it runs at."""

    box: tuple[int, int, int, int]       # left, top, right, bottom in the picture
    width: int
    height: int
    strength: float


def plan(options: GenerateOptions, native: int, picture_size: tuple[int, int] | None,
         mask: np.ndarray | None) -> Plan:
    """Sizes for a run on a picture of ``picture_size`` (w, h), or text-to-image."""
    strength = options.resolved_strength(picture_size is not None, mask is not None)
    if picture_size is None:
        w, h = options.width or native, options.height or native
        return Plan((0, 0, w, h), round8(w), round8(h), strength)
    pw, ph = picture_size
    if mask is not None and options.only_masked:
        box = crop_box(mask, options.padding, native)
        ww, wh = work_size(box[2] - box[0], box[3] - box[1], native)
        return Plan(box, ww, wh, strength)
    return Plan((0, 0, pw, ph), round8(options.width or pw), round8(options.height or ph),
                strength)


class _Part(JobContext):
    """One run of a batch: progress mapped into its share, previews transformed."""

    def __init__(self, outer: JobContext | None, start: float, share: float, shown) -> None:
        super().__init__()
        self.outer, self.start, self.share, self.shown = outer, start, share, shown

    def check(self) -> None:
        if self.outer is not None:
            self.outer.check()

    def report(self, fraction: float, preview: Any = None) -> None:
        if self.outer is not None:
            self.outer.report(self.start + self.share * fraction,
                              None if preview is None else self.shown(preview))


def run(registry: Registry, model: str, options: GenerateOptions,
        image: np.ndarray | None = None, mask: np.ndarray | None = None, *,
        ctx: JobContext | None = None) -> list[np.ndarray]:
    """``options.batch`` pictures (H, W, 3) float32 in [0, 1], seeds ``seed``, ``seed+1``,
    ...: at the picture's own size when there is one (its unmasked pixels kept exactly),
    else at the asked or native size. Previews are whole pictures too."""
    prompt_model(registry, model)
    if image is not None:
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        image = np.ascontiguousarray(image[..., :3])
    if mask is not None:
        if image is None:
            raise ValueError("a mask needs a picture to repaint")
        mask = np.asarray(mask, np.float32)
        if mask.shape != image.shape[:2]:
            mask = mk.resize(mask, image.shape[0], image.shape[1])
        if float(mask.max(initial=0.0)) < 0.5:
            raise ValueError("the mask is empty: paint where the model should repaint "
                             "(white = repaint)")
    backend = registry.get(model)
    native = int(registry.info(model).image_shape[0])
    size = None if image is None else (image.shape[1], image.shape[0])
    p = plan(options, native, size, mask)
    left, top, right, bottom = p.box
    part_image = part_mask = None
    if image is not None:
        part_image = _resize(image[top:bottom, left:right], p.width, p.height)
    if mask is not None:
        part_mask = mask[top:bottom, left:right]
        if part_mask.shape != (p.height, p.width):
            part_mask = mk.resize(part_mask, p.height, p.width)
    alpha = None if mask is None else feather_alpha(mask, options.mask_blur)

    def place(result: np.ndarray) -> np.ndarray:
        """A result of the working box back into the picture (or as it is)."""
        if image is None or mask is None:       # text-to-image, img2img: the asked size
            w = options.width or (p.width if image is None else image.shape[1])
            h = options.height or (p.height if image is None else image.shape[0])
            return _resize(result, w, h)
        full = image.copy()
        full[top:bottom, left:right] = _resize(result, right - left, bottom - top)
        return paste(image, full, alpha)

    def shown(preview: np.ndarray) -> np.ndarray:
        pv = np.asarray(preview, np.float32)
        return place(_resize(pv, p.width, p.height))

    out = []
    for i in range(options.batch):
        request = GenerateRequest(
            prompt=options.prompt, negative=options.negative, steps=options.steps,
            guidance=options.guidance, scheduler=options.scheduler, seed=options.seed + i,
            width=p.width, height=p.height, image=part_image, mask=part_mask,
            strength=p.strength, loras=options.loras,
            preview_decode_every=options.preview_decode_every,
            embeddings=options.embeddings)
        part = _Part(ctx, i / options.batch, 1.0 / options.batch, shown)
        out.append(place(backend.generate(request, ctx=part)))
    return out


def with_seed(options: GenerateOptions, seed: int) -> GenerateOptions:
    return replace(options, seed=int(seed))


# Our schedulers as other Stable Diffusion tools name their samplers (first: the one written).
SAMPLER_NAMES = {"ddim": ("DDIM",), "euler": ("Euler",), "euler-a": ("Euler a",),
                 "dpm++2m": ("DPM++ 2M",), "dpm++2m-karras": ("DPM++ 2M Karras",),
                 "lcm": ("LCM",), "pndm": ("PLMS", "PNDM")}


def sampler_name(scheduler: str) -> str:
    """``scheduler`` as other tools name it (the model's own default: written as is)."""
    return SAMPLER_NAMES.get(scheduler, (scheduler,))[0]


def scheduler_of(sampler: str) -> str | None:
    """Our scheduler of another tool's sampler name (None: none of ours)."""
    key = sampler.strip().lower()
    for ours, theirs in SAMPLER_NAMES.items():
        if key == ours or key in (t.lower() for t in theirs):
            return ours
    return "default" if key == "default" else None


def parameters_text(options: GenerateOptions, model: str, size: tuple[int, int],
                    strength: float | None = None, masked: bool = False) -> str:
    """The run in the ``parameters`` text other Stable Diffusion tools read and write."""
    def q(v: str) -> str:
        return json.dumps(v) if any(c in v for c in ',:\n"') else v

    lines = [options.prompt]
    if options.negative:
        lines.append(f"Negative prompt: {options.negative}")
    fields = [("Steps", options.steps), ("Sampler", sampler_name(options.scheduler)),
              ("CFG scale", f"{options.guidance:g}"), ("Seed", options.seed),
              ("Size", f"{size[0]}x{size[1]}"), ("Model", model)]
    if strength is not None:
        fields.append(("Denoising strength", f"{strength:g}"))
    if masked:
        fields.append(("Mask blur", f"{options.mask_blur:g}"))
    lines.append(", ".join(f"{k}: {q(str(v))}" for k, v in fields))
    return "\n".join(lines)


_FIELD = re.compile(r'\s*([\w \-/+.()]+?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


@dataclass
class ParsedParameters:
    """What a ``parameters`` text says, as our option names; ``unknown`` the fields (and
    sampler) this studio has no control for, said to the user."""

    values: dict[str, Any]
    unknown: list[str]


def parse_parameters(text: str) -> ParsedParameters:
    """Read the ``parameters`` text of another Stable Diffusion tool (or ours): the prompt,
    the negative prompt and the settings line. ValueError for text that is not one."""
    text = text.replace("\r\n", "\n").strip()
    lines = text.split("\n")
    settings_at = next((i for i in range(len(lines) - 1, -1, -1)
                        if re.match(r"\s*Steps:\s*\d+", lines[i])), None)
    if settings_at is None:
        raise ValueError("this is not the parameters text of a Stable Diffusion picture "
                         "(no 'Steps: N, Sampler: ...' line)")
    body, settings = lines[:settings_at], lines[settings_at]
    values: dict[str, Any] = {}
    prompt, negative, in_negative = [], [], False
    for line in body:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    values["prompt"] = "\n".join(prompt).strip()
    values["negative"] = "\n".join(negative).strip()
    unknown: list[str] = []
    for key, raw in _FIELD.findall(settings):
        key, raw = key.strip(), raw.strip()
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw.strip('"')
        try:
            if key == "Steps":
                values["steps"] = int(raw)
            elif key == "Sampler":
                sched = scheduler_of(raw)
                if sched is None:
                    unknown.append(f"sampler {raw}")
                else:
                    values["scheduler"] = sched
            elif key == "Schedule type" and raw.lower() == "karras" and \
                    values.get("scheduler") == "dpm++2m":
                values["scheduler"] = "dpm++2m-karras"
            elif key == "CFG scale":
                values["guidance"] = float(raw)
            elif key == "Seed":
                values["seed"] = int(raw)
            elif key == "Size":
                w, _, h = raw.partition("x")
                values["width"], values["height"] = int(w), int(h)
            elif key == "Denoising strength":
                values["strength"] = float(raw)
            elif key == "Mask blur":
                values["mask_blur"] = float(raw)
            elif key == "Model":
                values["model"] = raw
            else:
                unknown.append(key)
        except ValueError:
            raise ValueError(f"the parameters text's '{key}: {raw}' is not a number "
                             "where one is needed") from None
    return ParsedParameters(values, unknown)
