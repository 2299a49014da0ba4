"""Fit and measure a latent model's directions (``latent-studio train directions``).

Data: the glyph data set (``latent-studio data build glyphs``): a seeded sample of training
glyphs is encoded by the model; labels come from the glyphs (ink, slant, spread) and their
fonts' tables (see models.image.directions). Measured on test-split glyphs (font families
never seen): along each named direction, the measured label of the decoded pictures per step
and how often the glyph classifier still reads the character; baseline: the model's own
reconstruction (step 0) and the classifier on the intact glyphs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.image import directions as dmod
from models.protocol import Capability, JobContext


def directions_path(info: Any) -> Path:
    """Where a model's directions live: ``directions/<name>.safetensors`` beside the weights
    folder of a shipped model (resources/directions/), ``<checkpoint>.directions.safetensors``
    beside a user's."""
    p = Path(info.path)
    if info.source == "builtin":
        return p.parent.parent / "directions" / f"{p.stem}.safetensors"
    return p.with_name(p.stem + ".directions.safetensors")


def layer_layout(backend: Any) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(layers, w_dim) of a style model's flattened W+ and its style rows [start, stop), or
    (None, None) for a model without layers."""
    style = getattr(backend, "style_layers", None)
    content = getattr(backend, "content_layers", None)
    if not style or content is None:
        return None, None
    n = len(style) + len(content)
    size = backend.info.latent_size if backend.info is not None else 0
    if not size or size % n:
        return None, None
    return (n, size // n), (min(style), max(style) + 1)


def fit_gan(name: str, info: Any, backend: Any, out: Path | None, n: int, seed: int,
            log, t0: float) -> dict[str, Any]:
    """GANSpace (Härkönen et al. 2020) for a GAN: PCA of W over ``n`` seeded samples of its
    mapping; measured: the variance each component explains, and how much a step of +2
    changes the pictures of 8 held-out seeds (mean absolute pixel change, 0-1)."""
    w = backend.w_samples(n, seed)
    spec = info.style
    ds = dmod.fit_w_space(w, spec.layers)
    test = backend.sample_latents(8, seed + 10**6)
    base = backend.decode(test)
    change = {d.name: round(float(np.abs(backend.decode(ds.apply(test, d.name, 2.0))
                                          - base).mean()), 4) for d in ds.directions[:4]}
    card = {
        "description": f"Principal directions of {name}'s W (GANSpace), over every W+ row by "
                       "default; a step of 1 is one standard deviation of W",
        "model": name,
        "data": {"source": f"{n} samples of the model's own mapping (z seeded by {seed})"},
        "training": {"command": f"latent-studio train directions --model {info.path} "
                                f"--seed {seed} --train {n}",
                     "seed": seed, "seconds": round(time.time() - t0, 1)},
        "metrics": {f"{k}_pixel_change_at_plus2": v for k, v in change.items()},
        "measured": {"principal_explained": {d.name: round(d.explained, 4)
                                             for d in ds.directions}},
        "baseline": "step 0: the same 8 held-out seeds undisturbed",
    }
    ds.card = card
    path = out or directions_path(info)
    ds.save(path)
    log(json.dumps({"directions": str(path), "metrics": card["metrics"]}))
    return card


def fit_model(name: str, out: Path | None = None, data_path: Path | None = None,
              n_train: int = 12000, n_test: int = 400, seed: int = 0, log=print,
              ctx: JobContext | None = None, registry: Any = None) -> dict[str, Any]:
    from models.registry import default_registry
    from models.train.vae import open_data

    t0 = time.time()
    reg = registry or default_registry()
    info = reg.info(name)
    if Capability.LATENT not in info.capabilities:
        raise ValueError(f"'{name}' has no latent space to find directions in")
    if Capability.ANY_SIZE in info.capabilities:
        raise ValueError(f"'{name}' takes pictures at their own size; directions are fitted "
                         "on a data set of one size (the glyphs or the emoji)")
    backend = reg.get(name, "cpu")
    if hasattr(backend, "w_samples"):          # a GAN: GANSpace on its own samples
        return fit_gan(name, info, backend, out, n_train, seed, log, t0)
    # Glyph models get named directions (labels from the glyphs and their fonts); colour
    # models only principal ones, from the emoji set.
    data = "glyphs" if tuple(info.image_shape)[-1:] == (1,) else "emoji"
    images, d = open_data(data, data_path)
    if tuple(images.shape[1:]) != tuple(info.image_shape):
        raise ValueError(f"'{name}' takes {info.image_shape} pictures, the {data} are "
                         f"{images.shape[1:]}")
    split = d["split"]
    glyphs = data == "glyphs"
    chars = d["char"] if glyphs else np.zeros(len(images), int)
    fonts = json.loads(str(d["fonts"])) if glyphs else []
    font_of = d["font"] if glyphs else None
    rng = np.random.default_rng(seed)
    tr = np.flatnonzero(split == "train")
    tr = np.sort(rng.choice(tr, size=min(n_train, tr.size), replace=False))
    te = np.flatnonzero(split == "test")
    te = np.sort(rng.choice(te, size=min(n_test, te.size), replace=False))
    x = images[tr].astype(np.float32) / 255.0
    z = backend.encode(x, ctx=ctx)
    labels = dmod.glyph_labels(x, chars[tr], fonts, font_of[tr]) if glyphs else {}
    shape, style_rows = layer_layout(backend)
    ds = dmod.fit(z, labels, layer_shape=shape, named_layers=style_rows)
    log(json.dumps({"fitted": ds.names, "seconds": round(time.time() - t0, 1)}))
    test = images[te].astype(np.float32) / 255.0
    intact, measured = None, {}
    zt = backend.encode(test)
    if glyphs:
        clf = reg.get("glyph-classifier", "cpu")
        intact = round(float((clf.run(test)[1].argmax(1) == chars[te]).mean()), 4)
        measured = dmod.measure(backend, clf, ds, test, chars[te], z=zt)
    # Edit while holding: bold with the spread held (and the reverse), on the same glyphs.
    held = {}
    for edit, hold in (("bold", "wide"), ("wide", "bold")):
        if edit in ds.names and hold in ds.names:
            lo = backend.decode(ds.apply(zt, edit, -2.0, hold=(hold,)))
            hi = backend.decode(ds.apply(zt, edit, 2.0, hold=(hold,)))
            held[f"{edit}_holding_{hold}"] = {
                f"{lab}_change_per_step": round(float(
                    (dmod.MEASURES[lab](hi).mean() - dmod.MEASURES[lab](lo).mean()) / 4), 6)
                for lab in (edit, hold)}
    card = {
        "description": f"Directions in {name}'s latent space: named (InterFaceGAN-style ridge "
                       f"normals) and principal (GANSpace)",
        "model": name,
        "data": {"source": f"latent-studio data build {data}", "train_pictures": int(tr.size),
                 "test_pictures": int(te.size), "labels": {k: dmod.MEASURED.get(
                     k, "font table (OS/2 PANOSE serif style, post.isFixedPitch)")
                     for k in labels}},
        "training": {"command": f"latent-studio train directions --model {name} --seed {seed}"
                                + (f" --train {n_train}" if n_train != 12000 else ""),
                     "seed": seed, "seconds": round(time.time() - t0, 1)},
        "metrics": {f"{k}_change_per_step": v["change_per_step"]
                    for k, v in measured.items() if "change_per_step" in v}
        | {f"{k}_read_at_plus2": v["steps"][-1]["read"] for k, v in measured.items()},
        "measured": {"steps": measured, "holding": held,
                     "classifier_on_intact_test_glyphs": intact,
                     "principal_explained": {d.name: round(d.explained, 4)
                                             for d in ds.directions if d.kind == "principal"}},
        "baseline": "step 0 (the model's own reconstruction of the same test glyphs) and the "
                    "glyph classifier on the intact glyphs",
    }
    ds.card = card
    path = out or directions_path(info)
    ds.save(path)
    log(json.dumps({"directions": str(path), "metrics": card["metrics"]}))
    return card
