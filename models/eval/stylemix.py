"""Measure a style generator on the glyph test split (font families never seen in training).

* "This letter in that font": content = character c of a reference face (DejaVu Sans),
  style = another character d of a test face f (or 4 of them), truth = c in f. MSE to the
  truth and how often the glyph classifier reads c, against two baselines: the content glyph
  unchanged, and the glyph VAE's latent analogy VAE(d in f) - VAE(d in ref) + VAE(c in ref)
  (with 4 style glyphs: the mean of the 4 differences).
* Samples: FID on the glyph classifier's features and on InceptionV3's, of random samples
  against the test split, beside the glyph VAE's prior samples.
* Reconstruction MSE of the test glyphs beside the VAE's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoints import load_checkpoint, save_checkpoint
from models.protocol import StyleMixRequest

REFERENCE = "DejaVu Sans"
_SIZE_ONLY = set("cosuvwxz")


def size_only_case(ch: str) -> str:
    """The class a letter falls in when its two cases differ only in size (and o/O/0)."""
    low = ch.lower()
    if low in ("o", "0"):
        return "o"
    return low if low in _SIZE_ONLY else ch


def transfer(backend: Any, content: np.ndarray, styles: np.ndarray,
             use_stored_content: bool = False) -> np.ndarray:
    """Pictures of each content glyph in the style of its style glyphs, as the Style Mixer
    and ``stylemix --content`` make them.

    ``content`` (N, H, W, C); ``styles`` (N, S, H, W, C): S glyphs of one style per row.
    With ``use_stored_content`` the content rows are the model's stored code of the content
    glyph's character (as "write in this style" does) instead of the glyph's own."""
    n, s = styles.shape[:2]
    cc = backend.encode_codes(content)
    sc = backend.encode_codes(styles.reshape(n * s, *styles.shape[2:])).reshape(
        n, s, *cc.shape[1:])
    out = np.empty_like(cc)
    for i in range(n):
        out[i] = backend.with_style(cc[i:i + 1], backend.style_of_codes(sc[i]))[0]
    if use_stored_content:
        k = backend.cfg.content_layers
        out[:, :k] = backend.net.char_content.float().numpy()[backend.identify(cc)]
    return backend.synthesize([StyleMixRequest(c, c, (), noise_seed=None) for c in out])


def measure_checkpoint(weights: Path, data_path: Path | None = None, log=print,
                       n_inception: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Measure ``weights`` and write the figures into its card; returns the card."""
    from models.eval.fid import InceptionFeatures, fid_from_features
    from models.image import stylegen
    from models.registry import default_registry
    from models.train.stylegen import glyph_table

    t0 = time.time()
    ckpt = load_checkpoint(weights)
    backend = stylegen.load(ckpt, "cpu")
    backend.net.float()
    reg = default_registry()
    vae = reg.get("vae-glyphs", "cpu")
    clf = reg.get("glyph-classifier", "cpu")
    table = glyph_table("glyphs", data_path)
    fonts = table["fonts"]
    chars = table["chars"]
    grid = table["by_font"]
    ref_index = next(i for i, f in enumerate(fonts) if f["name"] == REFERENCE)
    ref = grid["all"][ref_index].astype(np.float32) / 255.0
    test = grid["test"].astype(np.float32) / 255.0                 # (F, K, H, W, C)
    nf, nk = test.shape[:2]
    rng = np.random.default_rng(seed)
    cases_c = np.tile(np.arange(nk), nf)
    cases_f = np.repeat(np.arange(nf), nk)
    styles4 = np.stack([rng.choice(np.delete(np.arange(nk), c), 4, replace=False)
                        for c in cases_c])                            # (N, 4), never c
    truth = test[cases_f, cases_c]
    content = ref[cases_c]
    same = np.array([size_only_case(ch) for ch in chars])

    def read(images: np.ndarray) -> dict[str, float]:
        _, probs = clf.run(images)
        pred = probs.argmax(1)
        return {"agree": float((pred == cases_c).mean()),
                "agree_size_only_case": float((same[pred] == same[cases_c]).mean())}

    def score(images: np.ndarray) -> dict[str, float]:
        return {"mse": float(((images - truth) ** 2).mean()), **read(images)}

    metrics: dict[str, Any] = {}
    truth_read = read(truth)
    metrics["truth_read_by_classifier"] = round(truth_read["agree"], 4)
    z_ref = vae.encode(ref)
    z_test = vae.encode(test.reshape(nf * nk, *test.shape[2:])).reshape(nf, nk, -1)
    for shots in (1, 4):
        d = styles4[:, :shots]
        styles = test[cases_f[:, None], d]                            # (N, shots, H, W, C)
        ours = transfer(backend, content, styles)
        stored = transfer(backend, content, styles, use_stored_content=True)
        diff = (z_test[cases_f[:, None], d] - z_ref[d]).mean(1)
        analogy = vae.decode(z_ref[cases_c] + diff)
        for name, images in (("ours", ours), ("ours_stored_content", stored),
                             ("vae_analogy", analogy), ("content", content)):
            if name == "content" and shots == 4:
                continue
            s = score(images)
            key = f"transfer_{shots}shot_{name}" if name != "content" else "transfer_content"
            metrics[f"{key}_mse"] = round(s["mse"], 6)
            metrics[f"{key}_read_as_c"] = round(s["agree"], 4)
            metrics[f"{key}_read_as_c_size_only_case"] = round(s["agree_size_only_case"], 4)
        metrics[f"transfer_{shots}shot_mse_over_analogy"] = round(
            metrics[f"transfer_{shots}shot_ours_mse"]
            / metrics[f"transfer_{shots}shot_vae_analogy_mse"], 4)
        log(f"transfer {shots}-shot done ({time.time() - t0:.0f} s)")
    flat = test.reshape(nf * nk, *test.shape[2:])
    metrics["test_chars_identified_from_content_rows"] = round(float(
        (backend.identify(backend.encode_codes(flat)) == np.tile(np.arange(nk), nf)).mean()), 4)
    rec = backend.decode(backend.encode(flat))
    metrics["test_mse_recon"] = round(float(((rec - flat) ** 2).mean()), 6)
    metrics["test_mse_recon_vae"] = round(float(((vae.decode(z_test.reshape(nf * nk, -1))
                                                   - flat) ** 2).mean()), 6)
    n = len(flat)
    ours_s = backend.decode(backend.sample_latents(n, seed))
    vae_s = vae.decode(vae.sample_latents(n, seed))
    f_real, _ = clf.run(flat)
    metrics["fid_glyph_samples"] = round(fid_from_features(clf.run(ours_s)[0], f_real), 3)
    metrics["fid_glyph_samples_vae"] = round(fid_from_features(clf.run(vae_s)[0], f_real), 3)
    log(f"glyph FID done ({time.time() - t0:.0f} s)")
    inc = InceptionFeatures("cpu")
    pick = rng.choice(n, min(n_inception, n), replace=False)

    def rgb(x: np.ndarray) -> np.ndarray:
        return np.repeat((x[pick] * 255 + 0.5).clip(0, 255).astype(np.uint8), 3, axis=-1)

    f_inc = inc(rgb(flat))
    metrics["fid_inception_samples"] = round(fid_from_features(inc(rgb(ours_s)), f_inc), 3)
    metrics["fid_inception_samples_vae"] = round(fid_from_features(inc(rgb(vae_s)), f_inc), 3)
    from models.tasks.stylemix import presets

    spec_presets = presets(backend.cfg.spec())
    named = {f"content ({_rng(spec_presets['content'])})": spec_presets["content"]}
    res = backend.cfg.resolutions
    for r in sorted(set(res[backend.cfg.content_layers:])):
        rows = tuple(i for i, x in enumerate(res) if x == r and i >= backend.cfg.content_layers)
        named[f"{r} px ({_rng(rows)})"] = rows
    named[f"style ({_rng(spec_presets['style'])})"] = spec_presets["style"]
    effects = layer_effects(backend, clf, test, named, seed=seed)
    metrics["measure_seconds"] = round(time.time() - t0)
    card = dict(ckpt.card)
    card.setdefault("layers", {})["measured"] = {
        "how": ("300 random pairs of test glyphs (A, B) of different faces and characters; "
                "the cell takes only these rows from B. keeps_a_char / takes_b_char: the "
                "glyph classifier reads A's / B's character; ink_toward_b: median of how far "
                "the ink fraction moved from A's reconstruction toward B's"), **effects}
    card["metrics"] = metrics
    card["evaluation"] = {
        "split": f"test: {nf} faces of font families never seen in training, {nk} characters",
        "transfer": (f"content = each character c of {REFERENCE}; style = 1 or 4 other "
                     "characters of a test face (seeded), truth = c in that face; pixels in "
                     "[0, 1]; read_as_c = the glyph classifier's top class is c "
                     "(size_only_case: c o s u v w x z and o/O/0 count in either case). "
                     "ours: content rows of the content glyph, style rows = its character's "
                     "mean style rows + the style glyphs' rows less their characters' means; "
                     "ours_stored_content: the same with the model's stored content rows of "
                     "the character it reads in the content glyph (as 'write in this style')"),
        "baselines": {"content": "the content glyph unchanged",
                      "vae_analogy": "glyph VAE: z(c in ref) + mean over the style glyphs d "
                                     "of z(d in f) - z(d in ref), decoded"},
        "identify": ("test_chars_identified_from_content_rows: share of the test glyphs whose "
                     "content rows are nearest (cosine) to their own character's stored "
                     "content code"),
        "samples": (f"{n} random samples (ours: the fitted mixture; VAE: its N(0, I) prior) "
                    f"against the {n} test glyphs: FID on the glyph classifier's features, "
                    f"and on InceptionV3 pool features for {len(pick)} of each"),
    }
    save_checkpoint(weights, ckpt.state, card, half=True)
    log(str(metrics))
    return card


def _rng(rows: tuple[int, ...]) -> str:
    return f"{rows[0]}-{rows[-1]}" if len(rows) > 1 else str(rows[0])


def layer_effects(backend: Any, classifier: Any, glyphs: np.ndarray, presets: dict,
                  n: int = 300, seed: int = 0) -> dict[str, dict[str, float]]:
    """What each named row range carries, measured: for ``n`` random pairs of glyphs (A, B)
    of ``glyphs`` (F, K, H, W, C) from different faces and characters, the cell that takes
    only those rows from B. ``keeps_a_char``: the classifier reads A's character;
    ``takes_b_char``: it reads B's; ``ink_toward_b``: how far the ink fraction moved from
    A's reconstruction toward B's (0: none, 1: all the way; median)."""
    rng = np.random.default_rng(seed)
    nf, nk = glyphs.shape[:2]
    f1, f2 = rng.integers(0, nf, n), rng.integers(0, nf, n)
    c1 = rng.integers(0, nk, n)
    c2 = (c1 + rng.integers(1, nk, n)) % nk
    xa, xb = glyphs[f1, c1], glyphs[f2, c2]
    ca, cb = backend.encode_codes(xa), backend.encode_codes(xb)
    ra = backend.synthesize([StyleMixRequest(a, a, (), noise_seed=None) for a in ca])
    rb = backend.synthesize([StyleMixRequest(b, b, (), noise_seed=None) for b in cb])
    ink_a, ink_b = ra.mean(axis=(1, 2, 3)), rb.mean(axis=(1, 2, 3))
    out = {}
    for name, rows in presets.items():
        mixed = backend.synthesize([StyleMixRequest(a, b, tuple(rows), noise_seed=None)
                                    for a, b in zip(ca, cb)])
        read = classifier.run(mixed)[1].argmax(1)
        ink = mixed.mean(axis=(1, 2, 3))
        far = np.abs(ink_b - ink_a) > 0.01
        toward = (ink[far] - ink_a[far]) / (ink_b[far] - ink_a[far])
        out[name] = {"rows": list(rows), "keeps_a_char": round(float((read == c1).mean()), 3),
                     "takes_b_char": round(float((read == c2).mean()), 3),
                     "ink_toward_b": round(float(np.median(toward)), 3) if far.any() else 0.0}
    return out
