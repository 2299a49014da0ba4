"""NVIDIA StyleGAN2 pickles on this machine (JSON on stdout): an FFHQ-1024-sized generator
(the official dimensions: z and w 512, 8 mapping layers, channel base 32768, max 512, conv
clamp 256; random weights, written as a pickle in NVIDIA's format) — pickle read + build
time, the first frame on the CPU, the Style Mixer's 4x4 grid at 1024 — and a 256-px one (the
paper's 256 configuration, channel base 16384): Latent Explorer frame times (p50 / p95 of a
scrub's decodes, one frame each, as the interactive lane runs them), and the seconds per step
of projecting a picture; a StyleGAN3-T of 256 px (its published dimensions): first frame and
frame times.

Run from the repository root: ``python -m bench.stylegan_pkl [--tiny]``.
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

from models.device import configure_threads
from models.registry import Registry
from models.tasks import stylemix as sm


def kwargs(res: int, base: int, z: int = 512) -> dict:
    return {"z_dim": z, "c_dim": 0, "w_dim": z, "img_resolution": res, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 8},
            "synthesis_kwargs": {"channel_base": base, "channel_max": 512,
                                 "num_fp16_res": 4, "conv_clamp": 256}}


def kwargs3(res: int, base: int = 32768, cmax: int = 512, z: int = 512) -> dict:
    """StyleGAN3-T's published configuration (synthesis settings flat, as its pickles)."""
    return {"z_dim": z, "c_dim": 0, "w_dim": z, "img_resolution": res, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2}, "channel_base": base, "channel_max": cmax,
            "magnitude_ema_beta": 0.999, "num_fp16_res": 4, "conv_clamp": 256}


def measure(work: Path, kw: dict, grid: bool, frames: int, arch: str = "sg2",
            project_steps: int = 0) -> dict:
    from tests.models.test_stylegan_pkl import write_pickle

    t0 = time.perf_counter()
    path = write_pickle(work / f"g{kw['img_resolution']}-{arch}.pkl", kw, work / "ran.txt",
                        arch)
    write_s = time.perf_counter() - t0
    reg = Registry(None)
    t0 = time.perf_counter()
    name = reg.add_checkpoint(path).name
    load_s = time.perf_counter() - t0
    b = reg.get(name)
    t0 = time.perf_counter()
    b.decode(b.sample_latents(1, 0))
    first_s = time.perf_counter() - t0
    out = {"pickle_mb": round(path.stat().st_size / 2**20, 1), "write_s": round(write_s, 1),
           "read_and_build_s": round(load_s, 2), "first_frame_s": round(first_s, 2),
           "module_source_ran": (work / "ran.txt").exists()}
    if project_steps:
        target = b.decode(b.sample_latents(1, 1))
        t0 = time.perf_counter()
        b.encode_codes(target, steps=project_steps)
        out["projection_s_per_step"] = round((time.perf_counter() - t0) / project_steps, 2)
    if grid:
        codes = b.codes_from_seeds(list(range(8)))
        t0 = time.perf_counter()
        sm.mix_grid(reg, name, codes[:4], codes[4:], (0, 1, 2, 3))
        out["grid_4x4_s"] = round(time.perf_counter() - t0, 1)
    if frames:
        a, c = b.sample_latents(2, 1)
        times = []
        for t in np.linspace(0, 1, frames):
            t0 = time.perf_counter()
            b.decode(((1 - t) * a + t * c)[None])
            times.append(time.perf_counter() - t0)
        out["scrub_frame_ms_p50"] = round(float(np.percentile(times, 50)) * 1000, 1)
        out["scrub_frame_ms_p95"] = round(float(np.percentile(times, 95)) * 1000, 1)
        out["frames"] = frames
    return out


def in_the_window(work: Path, kw: dict) -> dict:
    """Largest gap of a 5 ms main-thread timer while the Latent Explorer opens a StyleGAN
    pickle (read and built in the io lane) and then while it draws a random pair (the
    strip's frames decoded in the interactive lane), with the studio's garbage-collector
    policy as ``make run`` has it."""
    from bench.phases import PhaseGaps
    from studio import gcpolicy
    from studio.app import MainWindow, ensure_app
    from tests.models.test_stylegan_pkl import write_pickle

    path = write_pickle(work / "window.pkl", kw, work / "ran.txt", "sg2")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"          # closing asks nothing
    os.environ["LATENT_STUDIO_SETTINGS"] = str(work / "settings.ini")   # not the user's
    ensure_app()
    reg = Registry()
    win = MainWindow(registry=reg)
    win.show()
    panel = win.show_panel("latent")
    gcpolicy.install(reg)
    gaps = PhaseGaps("loading")
    pump_until = gaps.pump_until

    chosen: list[str] = []
    panel.register_checkpoint(str(path), then=lambda info: chosen.append(info.name))
    errors: list[str] = []
    panel.error.connect(lambda m, _d: errors.append(m))
    load_s = pump_until(lambda: (bool(chosen) or bool(errors)) and not win.jobs._live, 900)
    if errors:
        win.close()
        raise RuntimeError(errors[0])
    gaps.enter("generating")
    panel.model_combo.select(chosen[0])
    t0 = time.monotonic()
    panel.fill_random()                       # A, then B: their tiles and the A → B frame
    panel.set_active(1)
    panel.fill_random()
    pump_until(lambda: panel.frame_view.image() is not None and not win.jobs._live, 1800)
    generate_s = time.monotonic() - t0
    gaps.stop()
    win.close()
    return {"load_s": round(load_s, 1), "generate_s": round(generate_s, 1),
            **gaps.report("loading", "generating")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="small generators (smoke test)")
    ap.add_argument("--window-only", action="store_true",
                    help="only the main-thread gaps in the window (a 1024 px pickle)")
    args = ap.parse_args()
    if args.window_only:
        configure_threads()
        work = Path(tempfile.mkdtemp(prefix="sg2-bench-"))
        try:
            window = in_the_window(work, kwargs(64, 512, 64) if args.tiny
                                   else kwargs(1024, 32768))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"benchmark": "stylegan-pkl-window", "ffhq1024_sized": window,
                          "date": time.strftime("%Y-%m-%d")}, indent=2))
        return 0
    threads = configure_threads()            # as the studio runs: one core left to the UI
    work = Path(tempfile.mkdtemp(prefix="sg2-bench-"))
    try:
        if args.tiny:
            big = measure(work, kwargs(64, 512, 64), True, 0, project_steps=2)
            small = measure(work, kwargs(32, 256, 64), False, 10)
            sg3 = measure(work, kwargs3(32, 1024, 64, 64), False, 3, "sg3")
        else:
            big = measure(work, kwargs(1024, 32768), True, 0, project_steps=3)
            small = measure(work, kwargs(256, 16384), False, 40, project_steps=5)
            sg3 = measure(work, kwargs3(256), False, 5, "sg3")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "benchmark": "stylegan-pkl",
        "ffhq1024_sized": big, "res256": small, "stylegan3_t_256": sg3,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "device": "cpu", "torch_threads": threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
