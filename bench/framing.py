"""Your own pictures of letters: how often the glyph classifier reads the right character
after the glyph VAE reconstructs them (JSON on stdout).

The letters are drawn, black on white, with the fonts of the glyph set's test split (font
families never seen in training), each at a random size and place on a page of random size,
as a user's drawing or photo of one letter would be. Three framings reach the same model:

- ``data_set``: the glyph as the data set frames it (the ceiling);
- ``framed``: the page read as the studio reads a picture (find the ink, place it in the
  data set's boxes, keep the placement the glyph classifier reads consistently);
- ``framed_no_classifier``: the same, always in the capital-letter box;
- ``center_crop``: the page center-cropped and resized (what the studio did before).

``*_ignoring_size_only_case`` also counts a letter whose two cases differ only in size
(c o s u v w x z, and o/O/0) as read right in either case: alone on a page they cannot be
told apart by any framing.
"""

from __future__ import annotations

import json
import platform
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models import device as devices
from models.data.glyphs import CHARS
from models.image.io import to_model_image
from models.registry import default_registry
from models.tasks.pictures import picture_for_model

PER_FONT = 12          # characters per test face


def pages(fonts: list[dict], rng: np.random.Generator):
    """(font row, char index, page picture) for random letters of each face."""
    from pathlib import Path

    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]
    files = {p.name: p for d in dirs if d.is_dir() for p in d.rglob("*")}
    for f_idx, f in enumerate(fonts):
        path = files.get(f["file"])
        if path is None:
            continue
        for c in rng.choice(len(CHARS), PER_FONT, replace=False):
            px = int(rng.integers(30, 160))
            try:
                font = ImageFont.truetype(str(path), px)
            except OSError:
                break
            w, h = int(rng.integers(300, 1000)), int(rng.integers(300, 900))
            page = Image.new("RGB", (w, h), "white")
            x, y = int(rng.integers(10, max(11, w - 2 * px))), int(rng.integers(px + 10, h - 10))
            ImageDraw.Draw(page).text((x, y), CHARS[c], font=font, fill="black", anchor="ls")
            yield f_idx, int(c), page


def _size_only(ch: str) -> str:
    """One name for characters that differ only in size when alone: c/C, ..., o/O/0."""
    if ch in "oO0":
        return "o"
    return ch.lower() if ch.lower() in "csuvwxz" else ch


def main() -> int:
    from models.data import dataset_path

    if not dataset_path("glyphs").is_file():
        # Nothing to measure on a machine without the data: say so, and let `make bench` go on.
        print(json.dumps({"bench": "framing",
                          "skipped": "the glyph data set is not built (make data)"}))
        return 0
    with np.load(dataset_path("glyphs")) as z:     # each access of an npz decompresses
        data = {k: z[k] for k in ("images", "font", "char", "fonts")}
    fonts = json.loads(str(data["fonts"]))
    test_fonts = [i for i, f in enumerate(fonts) if f["split"] == "test"]
    reg = default_registry()
    vae, clf = reg.get("vae-glyphs"), reg.get("glyph-classifier")
    rng = np.random.default_rng(0)
    truth, framed, plain, cropped, native = [], [], [], [], []
    t0 = time.perf_counter()
    for f_row, c, page in pages([fonts[i] for i in test_fonts], rng):
        font = test_fonts[f_row]
        sel = np.flatnonzero((data["font"] == font) & (data["char"] == c))
        if sel.size == 0:
            continue
        truth.append(c)
        native.append(data["images"][sel[0]].astype(np.float32)[..., None] / 255.0)
        framed.append(picture_for_model(reg, "vae-glyphs", page)[0])
        plain.append(to_model_image(page, (64, 64, 1))[0])
        side = min(page.size)
        crop = page.crop(((page.width - side) // 2, (page.height - side) // 2,
                          (page.width + side) // 2, (page.height + side) // 2))
        gray = 1.0 - np.asarray(crop.convert("L").resize((64, 64), Image.Resampling.LANCZOS),
                                np.float32) / 255.0
        cropped.append(gray[..., None])
    truth = np.array(truth)
    out = {"bench": "framing", "images": int(len(truth)), "fonts": len(test_fonts),
           "compute_device": devices.current_device(),
           "machine": platform.processor() or platform.machine(),
           "date": time.strftime("%Y-%m-%d")}
    same = np.array([_size_only(CHARS[c]) for c in range(len(CHARS))])
    for name, images in (("data_set", native), ("framed", framed),
                         ("framed_no_classifier", plain), ("center_crop", cropped)):
        x = np.stack(images).astype(np.float32)
        recon = vae.decode(vae.encode(x))
        read_input = clf.run(x)[1].argmax(1)
        read_recon = clf.run(recon)[1].argmax(1)
        loose = (read_recon == truth) | (same[read_recon] == same[truth])
        out[name] = {"read_right_after_reconstruction": round(float((read_recon == truth)
                                                                    .mean()), 4),
                     "read_right_as_given": round(float((read_input == truth).mean()), 4),
                     "after_reconstruction_ignoring_size_only_case":
                         round(float(loose.mean()), 4)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
