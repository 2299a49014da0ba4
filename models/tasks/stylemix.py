"""Style mixing as the Style Mixer panel and ``latent-studio stylemix`` both ask for it.

A *source* is a seed (drawn from the model's fitted sampler) or a picture (encoded into W+).
A *crossover* is the set of W+ rows taken from B; presets name StyleGAN's coarse, middle and
fine rows, and "style" the rows the model was trained to carry the font.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.protocol import Capability, JobContext, StyleMixRequest, StyleSpec
from models.registry import Registry
from models.tasks.pictures import picture_for_model

SPACE_WIDTH = 0.45      # a space, as a fraction of a cell
TRACKING = 0.08         # extra gap between drawn characters, as a fraction of a cell


def presets(spec: StyleSpec) -> dict[str, tuple[int, ...]]:
    """Named crossovers: StyleGAN's coarse (4-8 px), middle (16-32 px) and fine (64 px up)
    rows, and the model's own content and style rows."""
    res = spec.resolutions or tuple(4 * 2**(i // 2) for i in range(spec.layers))
    out = {
        "coarse": tuple(i for i, r in enumerate(res) if r <= 8),
        "middle": tuple(i for i, r in enumerate(res) if 16 <= r <= 32),
        "fine": tuple(i for i, r in enumerate(res) if r >= 64),
    }
    if spec.content_layers:
        out["style"] = tuple(range(spec.content_layers, spec.layers))
        out["content"] = tuple(range(spec.content_layers))
    return out


def parse_layers(text: str, layers: int) -> tuple[int, ...]:
    """``"0-3"``, ``"2,5,7"`` or ``"0-1,6-9"`` as row numbers; ValueError says what is wrong."""
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise ValueError(f"layers are numbers or ranges like 0-3 or 2,5, not '{text}'"
                             ) from None
    bad = sorted(k for k in out if not 0 <= k < layers)
    if bad:
        raise ValueError(f"layers {bad} are outside 0-{layers - 1}")
    if not out:
        raise ValueError("no layers given")
    return tuple(sorted(out))


def style_model(registry: Registry, name: str) -> str:
    """``name`` if it is a style generator; ValueError otherwise."""
    info = registry.info(name)
    if Capability.STYLE_MIX not in info.capabilities or info.style is None:
        raise ValueError(f"model '{name}' cannot mix styles (it is a {info.family})")
    return name


def encode_pictures(registry: Registry, model: str,
                    pictures: list[Image.Image | np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """W+ codes (N, layers, w_dim) of pictures, framed as the model's data is (one batch),
    and a note per picture of what was done to it."""
    framed = [picture_for_model(registry, model, p) for p in pictures]
    if not framed:
        spec = registry.info(model).style
        return np.zeros((0, spec.layers, spec.w_dim), np.float32), []
    codes = registry.get(model).encode_codes(np.stack([a for a, _ in framed]))
    return codes, [note for _, note in framed]


def mix_grid(registry: Registry, model: str, rows: np.ndarray, cols: np.ndarray,
             from_b: tuple[int, ...], *, psi: float = 1.0, cutoff: int | None = None,
             noise_seed: int | None = None, noise_strength: tuple[float, ...] = (),
             ctx: JobContext | None = None) -> np.ndarray:
    """Images (len(rows), len(cols), H, W, C): cell (i, j) takes row i's codes (A) with the
    rows of W+ in ``from_b`` from column j (B)."""
    backend = registry.get(model)
    reqs = [StyleMixRequest(a, b, from_b, psi=psi, cutoff=cutoff, noise_seed=noise_seed,
                            noise_strength=noise_strength) for a in rows for b in cols]
    out = backend.synthesize(reqs, ctx=ctx)
    return out.reshape(len(rows), len(cols), *out.shape[1:])


def style_code(registry: Registry, model: str, pictures: list[np.ndarray]) -> np.ndarray:
    """The style (style rows, less each glyph's character) of pictures (H, W, C each) of
    one font."""
    return registry.get(model).style_of(np.stack(pictures))


def in_style(registry: Registry, model: str, content: np.ndarray, style: np.ndarray, *,
             strength: float = 1.0, psi: float = 1.0) -> np.ndarray:
    """Each content picture (N, H, W, C) drawn in ``style`` (from :func:`style_code`)."""
    backend = registry.get(model)
    codes = backend.with_style(backend.encode_codes(content), style, strength)
    return backend.synthesize([StyleMixRequest(c, c, (), psi=psi, noise_seed=None)
                               for c in codes])


def write_text(registry: Registry, model: str, text: str, style: np.ndarray, *,
               strength: float = 1.0, psi: float = 1.0, ctx: JobContext | None = None
               ) -> np.ndarray:
    """``text`` drawn in ``style`` (from :func:`style_code`) as one line (H, W', C) in
    [0, 1]: each character from the model's stored content code, cropped to its ink and set
    with a little tracking; spaces are gaps. ValueError names characters it cannot draw."""
    backend = registry.get(model)
    text = text.replace("\t", " ").replace("\n", " ")
    drawn = "".join(ch for ch in text if ch != " ")
    if not drawn:
        raise ValueError("there is no character to write")
    codes = backend.text_codes(drawn, style, strength)          # ValueError: unknown chars
    glyphs = backend.synthesize([StyleMixRequest(c, c, (), psi=psi, noise_seed=None)
                                 for c in codes], ctx=ctx)
    return set_line(text, glyphs)


def set_line(text: str, glyphs: np.ndarray) -> np.ndarray:
    """Lay out one glyph (H, W, C) per non-space character of ``text`` side by side, each
    cropped to its ink columns (a faint glyph keeps its whole cell)."""
    h, w, c = glyphs.shape[1:]
    gap = int(round(TRACKING * w))
    pieces: list[np.ndarray] = []
    it = iter(glyphs)
    for ch in text:
        if ch == " ":
            pieces.append(np.zeros((h, int(round(SPACE_WIDTH * w)), c), np.float32))
            continue
        g = next(it)
        ink = np.nonzero(g.max(axis=(0, 2)) > 0.25)[0]
        if len(ink):
            g = g[:, max(0, ink[0] - 1):min(w, ink[-1] + 2)]
        pieces.append(g)
        pieces.append(np.zeros((h, gap, c), np.float32))
    if pieces and pieces[-1].shape[1] == gap:
        pieces.pop()
    margin = np.zeros((h, gap, c), np.float32)
    return np.ascontiguousarray(np.concatenate([margin, *pieces, margin], axis=1))


def tile(grid: np.ndarray, pad: int = 2) -> np.ndarray:
    """A grid of images (R, K, H, W, C) as one picture with ``pad``-pixel grey lines."""
    r, k, h, w, c = grid.shape
    out = np.full((r * h + (r + 1) * pad, k * w + (k + 1) * pad, c), 0.35, np.float32)
    for i in range(r):
        for j in range(k):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = grid[i, j]
    return out


def render_mix(registry: Registry, model: str, a: np.ndarray, b: np.ndarray,
               from_b: tuple[int, ...], psi: float, cutoff: int | None,
               noise_seed: int | None, strengths: tuple[float, ...], heads: bool = True, *,
               ctx: JobContext | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(grid uint8 (R, K, H, W, 3) of rows ``a`` × columns ``b`` (W+ codes), the row and
    column pictures each drawn alone with the same truncation and noise; None when
    ``heads`` is False): the Style Mixer's grid, as its export's recipe makes it again."""
    from models.image.io import to_uint8

    ctx = ctx or JobContext()
    grid = mix_grid(registry, model, a, b, from_b, psi=psi, cutoff=cutoff,
                    noise_seed=noise_seed, noise_strength=strengths, ctx=ctx)
    rgb = to_uint8(grid.reshape(-1, *grid.shape[2:])).reshape(*grid.shape[:4], 3)
    if not heads:
        return rgb, None, None
    pics = registry.get(model).synthesize([
        StyleMixRequest(c, c, (), psi=psi, cutoff=cutoff, noise_seed=noise_seed,
                        noise_strength=strengths) for c in np.concatenate([a, b])], ctx=ctx)
    return rgb, to_uint8(pics[:len(a)]), to_uint8(pics[len(a):])


def grid_picture(grid: np.ndarray, row_pics: np.ndarray, col_pics: np.ndarray,
                 scale: int = 1) -> np.ndarray:
    """The grid as one RGB picture: a header row of the columns (B), a header column of the
    rows (A), the cells, grey lines between; ``scale`` times larger in pixel blocks."""
    r, k, h, w, _ = grid.shape
    blank = np.full((h, w, 3), 255, np.uint8)
    full = np.empty((r + 1, k + 1, h, w, 3), np.uint8)
    full[0, 0] = blank
    full[0, 1:] = col_pics
    full[1:, 0] = row_pics
    full[1:, 1:] = grid
    out = (tile(full.astype(np.float32) / 255.0) * 255 + 0.5).astype(np.uint8)
    if scale > 1:
        out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
    return out
