"""A user's own pictures as a data set the studio's families train on.

:func:`scan` reads a folder (recursively) or a list of files and says what will be used and
what is dropped and why (unreadable, too small, an exact duplicate by content hash, a near
duplicate by a perceptual hash); :func:`prepare` makes the set at one size (centre crop, or
fit with padding), RGB or gray, alpha over a chosen background, optional mirror flips, with
10 % held out (seeded) for measuring, and caches it keyed by the files' hashes and the
options, in the layout of the studio's built sets (``images``, ``split``), so the existing
training loops read it. Qt-free.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.protocol import JobContext

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
SIZES = (64, 128, 256)
NEAR = 4                # perceptual hashes this many bits apart (of 64) or fewer, and
NEAR_LEVELS = 6.0       # 16x16 colour thumbnails this close (mean of 255 levels): near copies
THUMB = 64


@dataclass(frozen=True)
class Picture:
    path: str
    sha256: str
    width: int
    height: int
    dhash: int


@dataclass(frozen=True)
class Dropped:
    path: str
    why: str            # "unreadable: ...", "too small: 20x30", "duplicate of a.png", ...


@dataclass
class Scan:
    """What a folder holds for training: the pictures kept (in a stable order) and the files
    dropped with why."""

    kept: list[Picture] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    def key(self) -> str:
        """The hash of the kept pictures' contents (names and order do not matter)."""
        h = hashlib.sha256()
        for digest in sorted(p.sha256 for p in self.kept):
            h.update(digest.encode())
        return h.hexdigest()

    def summary(self) -> dict:
        sizes = [(p.width, p.height) for p in self.kept]
        return {"pictures": len(self.kept), "dropped": len(self.dropped),
                "why": _counts(d.why.split(":")[0] for d in self.dropped),
                "smallest": list(min(sizes, key=lambda s: s[0] * s[1])) if sizes else None,
                "largest": list(max(sizes, key=lambda s: s[0] * s[1])) if sizes else None}


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 64
    fit: str = "crop"                 # "crop": centre square; "pad": whole picture, padded
    color: str = "rgb"                # "rgb" or "gray"
    background: tuple[int, int, int] = (255, 255, 255)   # under transparency and padding
    flips: bool = False               # add each training picture mirrored
    held_out: float = 0.1             # measured on, never trained on
    seed: int = 0
    min_side: int = 32                # smaller pictures are dropped

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"the size is one of {', '.join(map(str, SIZES))}, not "
                             f"{self.size}")
        if self.fit not in ("crop", "pad"):
            raise ValueError(f"fit is crop or pad, not '{self.fit}'")
        if self.color not in ("rgb", "gray"):
            raise ValueError(f"color is rgb or gray, not '{self.color}'")
        if not 0.0 < self.held_out < 0.5:
            raise ValueError(f"the held-out share is above 0 and below 0.5, not "
                             f"{self.held_out:g}")


def _counts(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def files_of(sources: list[str | Path]) -> list[Path]:
    """The picture files of folders (recursively, sorted) and single files, in order, each
    once."""
    out: list[Path] = []
    for s in sources:
        p = Path(s).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file()
                          and f.suffix.lower() in SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder")
    return list(dict.fromkeys(out))


def _flat(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB, transparency composited over ``background``."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA", "P"):
        rgba = img.convert("RGBA")
        under = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(under, rgba).convert("RGB")
    return img.convert("RGB")


def content(small: Image.Image, full: Image.Image) -> Image.Image:
    """What a picture shows: ``full`` cropped to what differs from its corner colour (found on
    ``small``, a reduced copy, when the picture is huge), so clip art on a big white page
    compares by its drawing, not by the page; the whole picture when nothing differs."""
    from PIL import ImageChops

    # The box on the picture itself (an exact crop) unless it is huge; then on the copy.
    look = full if full.width * full.height <= 4_000_000 else small
    corner = look.getpixel((0, 0))
    diff = ImageChops.difference(look, Image.new("RGB", look.size, corner)).convert("L")
    box = diff.point(lambda v: 255 if v > 40 else 0).getbbox()      # past JPEG ringing
    out = full
    if box is not None and (box[2] - box[0]) >= 2 and (box[3] - box[1]) >= 2:
        sx, sy = full.width / look.width, full.height / look.height
        out = full.crop((int(box[0] * sx), int(box[1] * sy), int(np.ceil(box[2] * sx)),
                         int(np.ceil(box[3] * sy))))
    return out


def dhash(img: Image.Image) -> int:
    """A 64-bit difference hash: near copies (re-saved, slightly resized or recoloured)
    have hashes a few bits apart."""
    g = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    bits = (g[:, 1:] > g[:, :-1]).reshape(-1)
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def scan(sources: list[str | Path], min_side: int = 32, *,
         ctx: JobContext | None = None) -> Scan:
    """Read every picture once: what is kept, what is dropped and why."""
    ctx = ctx or JobContext()
    files = files_of(sources)
    out = Scan()
    by_hash: dict[str, str] = {}
    hashes = np.zeros(max(1, len(files)), np.uint64)     # the kept pictures' dhashes
    tiny = np.zeros((max(1, len(files)), 768), np.int16)  # and 16x16 RGB thumbnails
    for k, f in enumerate(files):
        ctx.check()
        ctx.report(k / max(1, len(files)))
        data = f.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in by_hash:
            out.dropped.append(Dropped(str(f), f"duplicate: the same file as {by_hash[digest]}"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as img:
                    img.load()
                    w, h = img.size
                    flat = _flat(img, (255, 255, 255))
                    small = flat.copy()
                    small.thumbnail((256, 256))
                    drawn = content(small, flat)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombWarning,
                Image.DecompressionBombError) as exc:
            out.dropped.append(Dropped(str(f), f"unreadable: {str(exc).splitlines()[0]}"))
            continue
        if min(w, h) < min_side:
            out.dropped.append(Dropped(str(f), f"too small: {w}x{h} (under {min_side} "
                                               "pixels a side)"))
            continue
        dh = dhash(drawn)
        look = np.asarray(drawn.resize((16, 16), Image.Resampling.BOX), np.int16).reshape(-1)
        n = len(out.kept)
        if n:
            # The hash alone finds candidates (flat pictures, such as clip art on white,
            # share most of its bits); the thumbnails say whether they look alike.
            cand = np.flatnonzero(np.bitwise_count(hashes[:n] ^ np.uint64(dh)) <= NEAR)
            if cand.size:
                diff = np.abs(tiny[cand] - look).mean(axis=1)
                if float(diff.min()) <= NEAR_LEVELS:
                    like = out.kept[int(cand[int(np.argmin(diff))])]
                    out.dropped.append(Dropped(str(f), "near duplicate: looks like "
                                                       f"{Path(like.path).name}"))
                    continue
        hashes[n] = dh
        tiny[n] = look
        by_hash[digest] = f.name
        out.kept.append(Picture(str(f), digest, w, h, dh))
    ctx.report(1.0)
    return out


def fitted(img: Image.Image, options: PrepareOptions) -> np.ndarray:
    """One picture at the set's size: (S, S, 3|1) uint8."""
    s = options.size
    img = _flat(img, options.background)
    if options.fit == "crop":
        img = ImageOps.fit(img, (s, s), Image.Resampling.LANCZOS)
    else:
        img = ImageOps.pad(img, (s, s), Image.Resampling.LANCZOS, color=options.background)
    arr = np.asarray(img, np.uint8)
    if options.color == "gray":
        arr = np.asarray(img.convert("L"), np.uint8)[..., None]
    return np.ascontiguousarray(arr)


def split_of(n: int, held_out: float, seed: int) -> np.ndarray:
    """Seeded: about ``held_out`` of the pictures "test" (measured on), 5 % "val" (for
    choosing the best epoch), the rest "train"; every part has at least one picture once
    there are three."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * held_out))) if n >= 3 else 0
    n_val = max(1, int(round(n * 0.05))) if n >= 3 else 0
    split = np.full(n, "train", dtype="<U5")
    split[order[:n_test]] = "test"
    split[order[n_test:n_test + n_val]] = "val"
    return split


def cache_path(scanned: Scan, options: PrepareOptions) -> Path:
    """Where the prepared set is cached: keyed by the pictures' hashes and the options."""
    from models.data import cache_dir

    opts = json.dumps(asdict(options), sort_keys=True)
    key = hashlib.sha256(f"{scanned.key()}\n{opts}".encode()).hexdigest()[:20]
    return cache_dir() / "user" / f"{key}.npz"


def prepare(scanned: Scan, options: PrepareOptions, *, ctx: JobContext | None = None
            ) -> Path:
    """The set as ``images`` (N, S, S, C) uint8 and ``split`` (train / val / test), cached
    (a second call with the same pictures and options reads nothing again). With flips, the
    training pictures are added mirrored (held-out pictures never are)."""
    from models.files import save_npz

    ctx = ctx or JobContext()
    if len(scanned.kept) < 3:
        raise ValueError(f"{len(scanned.kept)} usable picture(s): at least 3 are needed "
                         "(one to train on, one to choose with, one to measure)")
    out = cache_path(scanned, options)
    if out.is_file():
        return out
    images = []
    for k, p in enumerate(scanned.kept):
        ctx.check()
        ctx.report(k / len(scanned.kept))
        with Image.open(p.path) as img:
            images.append(fitted(img, options))
    arr = np.stack(images)
    split = split_of(len(arr), options.held_out, options.seed)
    names = np.array([Path(p.path).name for p in scanned.kept])
    if options.flips:
        train = np.flatnonzero(split == "train")
        arr = np.concatenate([arr, arr[train, :, ::-1]])
        split = np.concatenate([split, np.full(train.size, "train", dtype="<U5")])
        names = np.concatenate([names, np.array([f"{n} (mirrored)" for n in names[train]])])
    out.parent.mkdir(parents=True, exist_ok=True)
    card = {"options": asdict(options), "pictures": len(scanned.kept),
            "hashes": sorted(p.sha256 for p in scanned.kept),
            "dropped": [asdict(d) for d in scanned.dropped]}
    save_npz(out, True, images=arr, split=split, name=names, card=np.array(json.dumps(card)))
    ctx.report(1.0)
    return out


def thumbnails(scanned: Scan, n: int = 48) -> np.ndarray:
    """Up to ``n`` of the kept pictures as THUMB-pixel RGB squares (the preview)."""
    out = []
    for p in scanned.kept[:n]:
        with Image.open(p.path) as img:
            out.append(np.asarray(ImageOps.pad(_flat(img, (255, 255, 255)), (THUMB, THUMB),
                                               color=(255, 255, 255)), np.uint8))
    return np.stack(out) if out else np.zeros((0, THUMB, THUMB, 3), np.uint8)
