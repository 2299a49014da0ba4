"""Stable Diffusion's VAE in the Latent Explorer on this machine: seconds to encode a photo
and to decode a frame at its own size, through the studio's sized view and through raw
diffusers (VaeImageProcessor + AutoencoderKL, as its pipelines do) in the same run, and peak
memory (JSON on stdout).

The VAE is SD 1.5's architecture from the shipped configs (resources/sd-configs/sd15/vae,
84 M parameters) with random, seeded weights: the speed of a real one, which cannot ship.
``--tiny`` runs the same on a tiny VAE (a smoke test of the bench itself).

Run from the repository root: ``python -m bench.sd_vae [--tiny]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from models.device import configure_threads
from models.image import sd
from models.registry import Registry

SIZES = ((512, 512), (768, 1024))        # (H, W): SD 1.5's native size, a 4:3 photo at max


def real_size_vae(out: Path) -> Path:
    import diffusers

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL.from_config(
        json.loads((sd.CONFIGS_DIR / "sd15" / "vae" / "config.json").read_text()))
    vae.save_pretrained(str(out))
    return out


def tiny_vae(out: Path) -> Path:
    from tests.models import sd_tiny

    return sd_tiny.build(out) / "vae"


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure_size(view, proc, h: int, w: int, reps: int) -> dict:
    from PIL import Image

    vae, k = view.owner.vae, view.owner.config["scaling_factor"]
    rng = np.random.default_rng(0)
    photo = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    img = photo.astype(np.float32)[None] / 255
    z = view.encode(img)

    def raw_encode() -> None:
        with torch.no_grad():
            vae.encode(proc.preprocess(Image.fromarray(photo))).latent_dist.mean * k

    def raw_decode() -> None:
        with torch.no_grad():
            t = torch.from_numpy(z.reshape(view.latent_shape))[None]
            proc.postprocess(vae.decode(t / k).sample, output_type="np")

    raw_decode()                                     # warm-up
    enc_raw, enc = timed(raw_encode, reps), timed(lambda: view.encode(img), reps)
    dec_raw, dec = timed(raw_decode, reps), timed(lambda: view.decode(z), reps)
    return {"encode_s": round(enc, 3), "raw_encode_s": round(enc_raw, 3),
            "decode_s": round(dec, 3), "raw_decode_s": round(dec_raw, 3),
            "decode_overhead": round(dec / dec_raw - 1, 4), "latent": list(view.latent_shape)}


def measure(folder: Path, reps: int) -> dict:
    from diffusers.image_processor import VaeImageProcessor

    reg = Registry(None)
    name = reg.add_checkpoint(folder).name
    proc = VaeImageProcessor(vae_scale_factor=8)
    return {f"{w}x{h}": measure_size(reg.get(reg.sized(name, h, w), "cpu"), proc, h, w, reps)
            for h, w in SIZES}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="a tiny VAE (smoke test)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    configure_threads()                  # as the studio runs: one core left to the UI
    work = Path(tempfile.mkdtemp(prefix="sd-vae-bench-"))
    try:
        folder = (tiny_vae if args.tiny else real_size_vae)(work / "vae")
        sizes = measure(folder, args.reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "benchmark": "sd-vae",
        "model": "tiny random VAE" if args.tiny else
                 "SD 1.5 VAE architecture (shipped sd15 config), random weights, float32",
        "sizes": sizes,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "device": "cpu",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
