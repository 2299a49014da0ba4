"""The objective metrics as one job for the Evaluation panel and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.eval import fid
from models.protocol import Capability, JobContext
from models.registry import Registry

METRICS = ("fid", "kid", "is", "dnsmos")


def features(registry: Registry, kind: str) -> Any:
    """InceptionV3 pool features, or the registered glyph classifier's."""
    if kind == "inception":
        return fid.InceptionFeatures()
    infos = registry.infos(Capability.FEATURES)
    if not infos:
        raise ValueError("no glyph classifier is registered; train one with "
                         "'latent-studio train classifier'")
    return registry.get(infos[0].name)


def compute_metric(registry: Registry, kind: str, dir_a: str | Path,
                   dir_b: str | Path | None = None, feature_kind: str = "inception",
                   limit: int | None = None, *, ctx: JobContext | None = None
                   ) -> dict[str, Any]:
    """FID or KID between two folders of images, IS of one (glyph classes), or DNSMOS of a
    folder (or file) of speech. The result is plain JSON; FID/KID of sets too small to mean
    anything carry a ``warning``."""
    ctx = ctx or JobContext()
    if kind not in METRICS:
        raise ValueError(f"unknown metric '{kind}' (one of {', '.join(METRICS)})")
    if kind == "dnsmos":
        from models.eval.dnsmos import audio_files, dnsmos

        rows = dnsmos(audio_files(dir_a), ctx=ctx)
        return {"metric": "dnsmos", "dir": str(dir_a), "files": rows,
                "mean": {k: float(np.mean([r[k] for r in rows]))
                         for k in ("sig", "bak", "ovrl", "p808")}}
    if kind == "is":
        feature_kind = "glyphs"          # the shipped InceptionV3 has no class head
    feats = features(registry, feature_kind)
    if kind == "is":
        probs = feats.run(fid.load_folder(dir_a, limit, ctx.part(0.0, 0.3)),
                          ctx=ctx.part(0.3, 1.0))[1]
        mean, std = fid.inception_score(probs)
        return {"metric": "is", "features": feature_kind, "dir": str(dir_a), "n": len(probs),
                "is": mean, "std": std}
    if dir_b is None:
        raise ValueError(f"{kind.upper()} compares two folders; give folder B too")
    # Reading each folder, then its features: four stages of one progress bar.
    fa = feats(fid.load_folder(dir_a, limit, ctx.part(0.0, 0.15)), ctx=ctx.part(0.15, 0.5))
    fb = feats(fid.load_folder(dir_b, limit, ctx.part(0.5, 0.65)), ctx=ctx.part(0.65, 1.0))
    out: dict[str, Any] = {"metric": kind, "features": feature_kind, "dir_a": str(dir_a),
                           "dir_b": str(dir_b), "n_a": len(fa), "n_b": len(fb)}
    if kind == "fid":
        out["fid"] = fid.fid_from_features(fa, fb)
    else:
        out["kid"], out["std"] = fid.kid_from_features(fa, fb)
    if warning := fid.sample_size_warning(len(fa), len(fb), fa.shape[1]):
        out["warning"] = warning
    return out


def metric_value(res: dict[str, Any]) -> str:
    """The figure of a result, as people write it."""
    kind = res["metric"]
    if kind == "fid":
        return f"{res['fid']:.3f}"
    if kind == "kid":
        return f"{res['kid']:.5f} ± {res['std']:.5f}"
    if kind == "is":
        return f"{res['is']:.3f} ± {res['std']:.3f}"
    m = res["mean"]
    return f"SIG {m['sig']:.2f} · BAK {m['bak']:.2f} · OVRL {m['ovrl']:.2f}"
