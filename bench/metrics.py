"""FID on 2,000 vs 2,000 64x64 images: seconds on this CPU, ours beside torch-fidelity's on
the same images and the same InceptionV3 features (JSON on stdout).

The images: 2,000 emoji from the built data set (set A) and the shipped emoji VAE's
reconstructions of 2,000 emoji (set B). torch-fidelity cannot download its own Inception
weights here, so it gets ours through its feature-extractor registry.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models import device as devices
from models.data.browse import load_index
from models.eval import fid
from models.registry import default_registry

N = 2000


def make_sets(root: Path) -> tuple[Path, Path]:
    idx = load_index("emoji")
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(idx.labels))
    a_ids, b_ids = pick[:N], pick[-N:]
    vae = default_registry().get("vae-emoji")
    for name, ids in (("a", a_ids), ("b", b_ids)):
        (root / name).mkdir(parents=True, exist_ok=True)
        images = np.stack([idx.image(i) for i in ids])
        if name == "b":
            images = vae.decode(vae.encode(images))
        for k, img in enumerate(images):
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(root / name / f"{k:05d}.png")
    return root / "a", root / "b"


def ours(a: Path, b: Path) -> dict:
    t0 = time.perf_counter()
    feats = fid.InceptionFeatures()
    fa, fb = feats(fid.load_folder(a)), feats(fid.load_folder(b))
    t_feat = time.perf_counter() - t0
    t1 = time.perf_counter()
    value = fid.fid_from_features(fa, fb)
    return {"fid": value, "seconds": round(time.perf_counter() - t0, 1),
            "feature_seconds": round(t_feat, 1),
            "distance_seconds": round(time.perf_counter() - t1, 3)}, fa, fb


def torch_fidelity_fid(a: Path, b: Path) -> dict:
    try:
        import torch_fidelity
        from torch_fidelity.feature_extractor_base import FeatureExtractorBase
        from torch_fidelity.registry import register_feature_extractor
    except ImportError:
        return {"available": False, "why": "torch-fidelity is not installed"}

    shared = fid.InceptionFeatures()

    class Shared(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)

        @staticmethod
        def get_provided_features_list():
            return ("2048",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "2048"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

        def forward(self, x):
            imgs = x.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
            return (torch.from_numpy(shared(imgs)).float(),)

    register_feature_extractor("latent-studio-inception", Shared)
    t0 = time.perf_counter()
    m = torch_fidelity.calculate_metrics(
        input1=str(a), input2=str(b), fid=True, feature_extractor="latent-studio-inception",
        feature_layer_fid="2048", cuda=False, cache=False, verbose=False, batch_size=32)
    return {"available": True, "fid": float(m["frechet_inception_distance"]),
            "seconds": round(time.perf_counter() - t0, 1),
            "version": torch_fidelity.__version__,
            "note": "float32 features (its extractor contract), our extractor"}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = make_sets(Path(tmp))
        mine, fa, fb = ours(a, b)
        theirs = torch_fidelity_fid(a, b)
    out = {"benchmark": "metrics", "images": f"{N} vs {N}, 64x64 RGB (emoji vs emoji-VAE "
           "reconstructions)", "ours": mine, "torch_fidelity": theirs}
    if theirs.get("available"):
        out["relative_difference"] = abs(mine["fid"] - theirs["fid"]) / theirs["fid"]
    out["compute_device"] = devices.current_device()
    out["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                      f"{torch.get_num_threads()}, Python {sys.version.split()[0]}")
    out["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
