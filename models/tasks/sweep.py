"""X/Y/Z sweeps: one recipe run again with one setting changed per axis.

Each cell is the recipe with its axes' values put in, run by the one runner, so a cell is
exactly what the same single run makes (with its own recipe in it). Pictures make one
labelled grid (a PNG carrying the sweep's own recipe, so it replays too); sounds and
pictures alike can be written as a folder of cells.
"""

from __future__ import annotations

import copy
import itertools
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.protocol import JobContext
from models.recipe import Recipe, RecipeError
from models.registry import Registry
from models.tasks import runner

MAX_CELLS = 256
# The command's option names that are stored under another name in a recipe.
ALIASES = {"class": ("label", "class"), "pitch-semitones": ("pitch",),
           "loudness-db": ("loudness",), "snr-db": ("snr",), "c50-db": ("c50",),
           "cfg": ("guidance",), "sampler": ("sampler", "scheduler"),
           "preset": ("layers",)}
MODEL_NAMES = ("model", "vocoder")


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Axis:
        """``NAME=V1,V2,...`` (a value may be a range of rows: ``0-3``)."""
        name, sep, values = text.partition("=")
        name = name.strip().lstrip("-")
        vals = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not name or not vals:
            raise ValueError(f"an axis is NAME=V1,V2,... (e.g. seed=1,2,3), not '{text}'")
        return cls(name, vals)

    def label(self, value: str) -> str:
        return f"{self.name}={value}"


def _typed(old: Any, text: str, name: str) -> Any:
    """``text`` as the type the recipe holds for that setting."""
    if isinstance(old, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} is on or off (true/false), not '{text}'")
    if text.lower() in ("none", "default") and old is None:
        return None
    try:
        if isinstance(old, int) or (old is None and re.fullmatch(r"-?\d+", text)):
            return int(text)
        if isinstance(old, float) or old is None:
            return float(text)
    except ValueError:
        raise ValueError(f"{name} takes a number, not '{text}'") from None
    if isinstance(old, list):
        return _rows(text, name)
    return text


def _rows(text: str, name: str) -> list[int]:
    out: list[int] = []
    try:
        for part in text.replace("+", " ").replace(";", " ").split():
            a, sep, b = part.partition("-")
            out += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    except ValueError:
        raise ValueError(f"{name} takes rows like 0-3, not '{text}'") from None
    return out


def with_value(recipe: Recipe, name: str, value: str) -> Recipe:
    """The recipe with one setting changed, named as the command's option (seed, psi,
    guidance, steps, layers, vocoder, ...); ValueError names the settings it has."""
    r = copy.deepcopy(recipe)
    p = r.params
    if name in MODEL_NAMES and not (name == "vocoder" and isinstance(p.get("vocoder"), dict)):
        r.model = {"name": value}
        return r
    if name == "vocoder":
        p["vocoder"] = {"name": value}
        return r
    keys = [k for k in (name, name.replace("-", "_"), *ALIASES.get(name, ())) if k in p]
    if keys:
        key = keys[0]
        if key == "layers" and r.task == "stylemix":
            p[key] = value                  # rows as text: 0-3 or a named preset's rows
        else:
            p[key] = _typed(p[key], value, name)
        return r
    inner = p.get("params")                 # a vocoder's own settings (iters, ...)
    if isinstance(inner, dict) and name in inner:
        inner[name] = _typed(inner[name], value, name)
        return r
    have = sorted([k for k, v in p.items() if not isinstance(v, dict) and k != "config"]
                  + list(inner if isinstance(inner, dict) else ()))
    raise ValueError(f"a {r.task} has no setting '{name}' (it has: {', '.join(have)})")


def cells(recipe: Recipe, axes: list[Axis]) -> list[tuple[tuple[str, ...], Recipe]]:
    """Every combination (x fastest), checked before anything runs."""
    if not 1 <= len(axes) <= 3:
        raise ValueError("a sweep has one to three axes (--x, --y, --z)")
    combos = list(itertools.product(*[a.values for a in reversed(axes)]))
    if len(combos) > MAX_CELLS:
        raise ValueError(f"{len(combos)} cells is too many (at most {MAX_CELLS})")
    out = []
    for combo in combos:
        values = tuple(reversed(combo))
        r = recipe
        for axis, value in zip(axes, values):
            r = with_value(r, axis.name, value)
        out.append((values, r))
    return out


def cell_name(axes: list[Axis], values: tuple[str, ...], suffix: str) -> str:
    text = "_".join(a.label(v) for a, v in zip(axes, values))
    return re.sub(r"[^\w=.,+-]", "-", text) + suffix


def run_sweep(registry: Registry, recipe: Recipe, axes: list[Axis], out: str | Path, *,
              ctx: JobContext | None = None,
              on_cell: Callable[[int, tuple[str, ...], Path], None] | None = None) -> list[Path]:
    """Run every cell; ``out`` a folder (one file per cell, each with its recipe) or a
    ``.png`` grid (pictures only). Returns the cells' files."""
    ctx = ctx or JobContext()
    out = Path(out)
    todo = cells(recipe, axes)
    suffix = runner.WRITES.get(recipe.task, (".png",))[0]
    grid = out.suffix.lower() == ".png"
    if grid and suffix != ".png":
        raise ValueError(f"a {recipe.task} makes sounds: write its sweep to a folder "
                         "(--out DIR), not a grid picture")
    if not grid and out.suffix:
        raise ValueError(f"{out}: write a sweep to a grid (.png) or a folder")
    if grid and not out.parent.is_dir():
        raise ValueError(f"{out}: folder {out.parent} does not exist")
    scratch = tempfile.TemporaryDirectory(prefix="sweep-") if grid else None
    folder = Path(scratch.name) if scratch else out
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files: list[Path] = []
        done: list[tuple[tuple[str, ...], Path]] = []
        for k, (values, r) in enumerate(todo):
            ctx.check()
            path = folder / cell_name(axes, values, suffix)
            # Cells' own progress is not shown as previews: the previews are the cells done.
            runner.run(registry, r, path,
                       ctx=_quiet(ctx, k / len(todo), (k + 1) / len(todo)))
            files.append(path)
            done.append((values, path))
            ctx.report((k + 1) / len(todo), list(done))
            if on_cell is not None:
                on_cell(k, values, path)
        if grid:
            sweep = sweep_recipe(recipe, axes)
            write_grid(files, [v for v, _ in todo], axes, out, sweep)
            return [out]
        return files
    finally:
        if scratch is not None:
            scratch.cleanup()


def _quiet(ctx: JobContext, start: float, end: float) -> JobContext:
    """A cell's context: its progress as a share of the sweep's, without its previews (the
    sweep's previews are the cells done)."""
    child = ctx.part(start, end)
    forward = child._on_progress
    child._on_progress = (lambda f, _p: forward(f, None)) if forward else None
    return child


def settings(recipe: Recipe) -> list[str]:
    """The names a sweep of ``recipe`` can take (as the command's options name them)."""
    p = recipe.params
    names = [k for k, v in p.items()
             if (v is None or isinstance(v, (int, float, str, bool))) and
             k not in ("config", "source", "a", "b", "mode", "dark_on_light", "out_rate",
                       "rate", "source_rate", "length")]
    if recipe.task == "stylemix" and "layers" in p:
        names.append("layers")
    inner = p.get("params")
    if isinstance(inner, dict):
        names += [k for k in inner if k not in names]
    names.append("vocoder" if isinstance(p.get("vocoder"), dict) else "model")
    return list(dict.fromkeys(names))


def sweep_recipe(recipe: Recipe, axes: list[Axis]) -> Recipe:
    """The grid's own recipe: the base recipe and the axes (it replays like any output)."""
    return Recipe(task="sweep", params={"base": recipe.to_json(),
                                        "axes": [[a.name, list(a.values)] for a in axes]},
                  model=dict(recipe.model), inputs=list(recipe.inputs),
                  made_with=dict(recipe.made_with))


@runner.task("sweep")
def _sweep(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A labelled grid of a recipe with one to three settings swept."""
    try:
        axes = [Axis(str(n), tuple(str(v) for v in vals)) for n, vals in recipe.params["axes"]]
        base = Recipe.from_json(recipe.params["base"], "the sweep's base recipe")
    except (KeyError, TypeError, ValueError) as exc:
        raise RecipeError(f"the sweep's recipe is damaged ({exc})") from None
    run_sweep(registry, base, axes, out, ctx=ctx)
    return ""


# -- the grid ---------------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def write_grid(files: list[Path], values: list[tuple[str, ...]], axes: list[Axis],
               out: Path, recipe: Recipe | None = None) -> Path:
    """Cells as one labelled picture: X across, Y down, one block per Z value."""
    from PIL import Image, ImageDraw

    from models.files import save_picture
    from models.recipe import picture_options, recipe_text

    pics = []
    for f in files:
        with Image.open(f) as im:
            pics.append(im.convert("RGB"))
    cw = max(p.width for p in pics)
    ch = max(p.height for p in pics)
    nx = len(axes[0].values)
    ny = len(axes[1].values) if len(axes) > 1 else 1
    nz = len(axes[2].values) if len(axes) > 2 else 1
    font = _font(max(12, min(24, cw // 10)))
    pad = 6
    text_h = font.size + 2 * pad
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def width(text: str) -> int:
        return int(np.ceil(probe.textlength(text, font=font)))

    left = (max(width(axes[1].label(v)) for v in axes[1].values) + 2 * pad
            if len(axes) > 1 else 0)
    block_h = text_h * (2 if nz > 1 else 1) + ny * (ch + pad)
    canvas = Image.new("RGB", (left + nx * (cw + pad) + pad, nz * block_h), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (pic, vals) in enumerate(zip(pics, values)):
        ix = k % nx
        iy = (k // nx) % ny
        iz = k // (nx * ny)
        top = iz * block_h + text_h * (2 if nz > 1 else 1)
        x0, y0 = left + pad + ix * (cw + pad), top + iy * (ch + pad)
        canvas.paste(pic, (x0 + (cw - pic.width) // 2, y0 + (ch - pic.height) // 2))
        if iy == 0:
            draw.text((x0 + cw // 2, top - text_h // 2), axes[0].label(vals[0]),
                      fill="black", font=font, anchor="mm")
        if ix == 0 and len(axes) > 1:
            draw.text((pad, y0 + ch // 2), axes[1].label(vals[1]), fill="black", font=font,
                      anchor="lm")
        if ix == 0 and iy == 0 and nz > 1:
            draw.text((pad, iz * block_h + text_h // 2), axes[2].label(vals[2]),
                      fill="black", font=font, anchor="lm")
    return save_picture(canvas, out, **picture_options(out, recipe_text(recipe, out)))
