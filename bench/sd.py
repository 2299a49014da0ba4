"""Stable Diffusion on this machine: seconds per step through the studio and through raw
diffusers in the same run, peak memory, cancel latency, and the window while a model of SD
1.5's real size loads and generates (JSON on stdout).

The model is SD 1.5's architecture from the shipped configs (resources/sd-configs/sd15:
U-Net 860 M, VAE 84 M, CLIP-L 123 M parameters) with random, seeded weights: the speed of a
real checkpoint, which cannot ship. ``--tiny`` runs the same measurements on a tiny pipeline
(a smoke test of the bench itself).

Run from the repository root: ``python -m bench.sd [--tiny] [--steps N]``.
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

from studio.app import offscreen_platform

os.environ.setdefault("QT_QPA_PLATFORM", offscreen_platform())
os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"
os.environ.setdefault("LATENT_STUDIO_SETTINGS", os.path.join(tempfile.mkdtemp(), "s.ini"))
os.environ.setdefault("LATENT_STUDIO_LIBRARY", os.path.join(tempfile.mkdtemp(), "l.json"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.image import sd  # noqa: E402
from models.protocol import Cancelled, GenerateRequest, JobContext  # noqa: E402

PROMPT = "a photo of a red house by a lake, evening light"


def real_size_folder(out: Path) -> Path:
    """SD 1.5's architecture, random seeded weights, saved as a diffusers folder."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    base = sd.CONFIGS_DIR / "sd15"
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel.from_config(
        json.loads((base / "unet" / "config.json").read_text()))
    vae = diffusers.AutoencoderKL.from_config(
        json.loads((base / "vae" / "config.json").read_text()))
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(str(base / "text_encoder")))
    sched = diffusers.PNDMScheduler.from_pretrained(str(base / "scheduler"))
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=sd.clip_tokenizer(), unet=unet, scheduler=sched,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(out))
    return out


def tiny_folder(out: Path) -> Path:
    from tests.models import sd_tiny

    return sd_tiny.build(out)


def step_times(run) -> list[float]:
    """Seconds between the step callbacks of one run (the first step from the start)."""
    marks = [time.perf_counter()]
    run(lambda: marks.append(time.perf_counter()))
    return list(np.diff(marks))


def headless(folder: Path, steps: int, size: int) -> dict:
    from models.registry import Registry

    reg = Registry(None)
    name = reg.add_checkpoint(folder).name
    t0 = time.perf_counter()
    backend = reg.get(name, "cpu")
    load_s = time.perf_counter() - t0
    pipe = backend.pipe

    def raw(mark) -> None:
        pipe(PROMPT, num_inference_steps=steps, height=size, width=size, output_type="np",
             generator=torch.Generator("cpu").manual_seed(0),
             callback_on_step_end=lambda p, i, t, k: (mark(), k)[1])

    def studio(mark) -> None:
        backend.generate(GenerateRequest(prompt=PROMPT, steps=steps, seed=0, width=size,
                                         height=size),
                         ctx=JobContext(lambda f, preview: mark()))

    step_times(raw)                                  # warm-up (allocations, first calls)
    raw_steps, studio_steps = [], []
    for _ in range(2):                               # interleaved: the machine's drift cancels
        raw_steps += step_times(raw)[1:]
        studio_steps += step_times(studio)[1:]
    raw_med, studio_med = float(np.median(raw_steps)), float(np.median(studio_steps))

    # Cancel after the second step: how long until the run has stopped.
    seen, stopped = [], []

    def on(f, preview) -> None:
        seen.append(time.perf_counter())
        if len(seen) == 2:
            ctx.cancel()

    ctx = JobContext(on)
    try:
        backend.generate(GenerateRequest(prompt=PROMPT, steps=50, seed=1, width=size,
                                         height=size), ctx=ctx)
    except Cancelled:
        stopped.append(time.perf_counter())
    cancel_s = stopped[0] - seen[1] if stopped else float("nan")
    return {"torch_threads": torch.get_num_threads(), "load_s": round(load_s, 2),
            "raw_diffusers_s_per_step": round(raw_med, 3),
            "studio_s_per_step": round(studio_med, 3),
            "studio_overhead": round(studio_med / raw_med - 1, 4),
            "steps_timed_each": len(raw_steps),
            "cancel_latency_s": round(cancel_s, 3),
            "cancel_latency_in_steps": round(cancel_s / studio_med, 2),
            "steps_run_after_cancel": len(seen) - 2,
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def in_the_window(folder: Path, steps: int, size: int, gc_policy: bool = True) -> dict:
    """Largest gap of a 5 ms main-thread timer while the model loads, then generates."""
    from PySide6.QtCore import QCoreApplication

    from bench.phases import PhaseGaps
    from models.registry import Registry
    from studio import gcpolicy
    from studio.app import MainWindow, ensure_app

    ensure_app()
    reg = Registry()
    name = reg.add_checkpoint(folder).name
    win = MainWindow(registry=reg)
    win.show()
    panel = win.show_panel("inpaint")
    if gc_policy:
        gcpolicy.install(reg)                        # as run_gui does
    gaps = PhaseGaps("switch")
    pump_until = gaps.pump_until

    panel.backend_changed()
    t0 = time.perf_counter()
    panel.model_combo.select(name)                   # starts loading in the long lane
    QCoreApplication.processEvents()                 # the panel shows the model's controls
    switch_ms = (time.perf_counter() - t0) * 1000
    gaps.enter("loading")
    pump_until(lambda: (name, "cpu") in reg.loaded(), 600)
    gaps.enter("generating")
    panel.prompt_combo.setEditText(PROMPT)
    panel.prompt_combo.lineEdit().editingFinished.emit()
    panel.steps_spin.setValue(steps)
    panel.width_spin.setValue(size)
    panel.height_spin.setValue(size)
    panel.run()
    pump_until(lambda: panel._running is None, 1200)
    gaps.stop()
    results = len(panel.doc.history)
    win.jobs.wait_until_idle(10)
    win.close()
    return {"model_switch_ms": round(switch_ms, 1), **gaps.report("loading", "generating"),
            "pictures_made": results}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="a tiny pipeline (smoke test)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--window-only", action="store_true", help="only the window's figures")
    ap.add_argument("--no-gc-policy", action="store_true",
                    help="leave Python's garbage collector as it is (to compare)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-bench-"))
    try:
        t0 = time.perf_counter()
        folder = (tiny_folder if args.tiny else real_size_folder)(work / "model")
        build_s = time.perf_counter() - t0
        size = 64 if args.tiny else 512
        head = {} if args.window_only else headless(folder, args.steps, size)
        window = in_the_window(folder, max(2, args.steps - 1), size, not args.no_gc_policy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": "stable-diffusion",
        "model": "tiny random pipeline" if args.tiny else
                 "SD 1.5 architecture (shipped sd15 configs), random weights, float32",
        "size": f"{size}x{size}, guidance 7.5 (batch 2 through the U-Net), PNDM",
        "build_and_save_s": round(build_s, 1),
        "headless": head,
        "window": window,
        "targets": {"studio_overhead": 0.05, "ui_gap_ms": 50, "cancel_latency_steps": 1},
        "gc_policy": not args.no_gc_policy,
        "pass": bool(head.get("studio_overhead", 0) <= 0.05
                     and window["largest_gap_ms_while_generating"] <= 50
                     and window["largest_gap_ms_while_loading"] <= 50
                     and head.get("cancel_latency_in_steps", 0) <= 1.0),
        "device": "cpu",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
