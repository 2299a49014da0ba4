"""The window while a model trains on your pictures (JSON on stdout).

    python -m bench.train_ui [FOLDER] [--seconds 40]

The Train panel trains a VAE on FOLDER (default: 300 generated pictures) for ``--seconds``
while a 5 ms main-thread timer measures the window's gaps, and the Latent Explorer's scrub
slider is dragged back and forth (each move decodes a frame). Two ways are measured:

* ``process``: the panel's own way, the trainer as a separate process (``latent-studio
  train vae --events``) whose JSON lines the window reads;
* ``thread``: the same training in the window's process, in the long lane of its job
  runner (what the issue allowed as the alternative).

Target: the largest gap <= 50 ms while training. Also reported: the trainer's steps per
second in each way (the window's work and the training share the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from studio.app import offscreen_platform

os.environ.setdefault("QT_QPA_PLATFORM", offscreen_platform())

import numpy as np  # noqa: E402


def make_pictures(folder: Path, n: int = 300) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        im = np.full((96, 96, 3), rng.integers(150, 255, 3), np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, 70, 2)
            h, w = rng.integers(8, 26, 2)
            im[y:y + h, x:x + w] = rng.integers(0, 255, 3)
        Image.fromarray(im).save(folder / f"p{i:03d}.png")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", type=Path)
    ap.add_argument("--seconds", type=float, default=40.0)
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from bench.phases import PhaseGaps
    from models.registry import Registry
    from studio.app import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="train-ui-"))
    os.environ["LATENT_STUDIO_RUNS"] = str(tmp / "runs")
    os.environ["LATENT_STUDIO_DATA"] = str(tmp / "cache")
    folder = args.folder or make_pictures(tmp / "pictures")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(registry=Registry())
    win.resize(1280, 820)
    win.show()
    latent = win.show_panel("latent")
    panel = win.show_panel("train")
    panel.set_sources([str(folder)])
    PhaseGaps.pump_until(lambda: panel.scan is not None, 600)
    out: dict = {"bench": "train_ui", "pictures": len(panel.scan.kept),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                 "date": time.strftime("%Y-%m-%d")}

    def drag(gaps: PhaseGaps, phase: str, until) -> None:
        gaps.enter(phase)
        k, t0 = 0, time.monotonic()
        win.show_panel("latent")
        while not until() and time.monotonic() - t0 < args.seconds:
            latent.scrub_slider.setValue((k * 37) % 1000)
            PhaseGaps.pump_until(lambda: False, 0.05)
            k += 1

    # -- the panel's way: a trainer process --------------------------------------------------
    gaps = PhaseGaps("idle")
    panel.extra_args = ["--snapshot-minutes", "0.25"]
    panel.minutes_spin.setValue(max(0.5, args.seconds / 60 * 2))
    panel.start()
    PhaseGaps.pump_until(lambda: len(panel.steps) >= 2, 300)
    first = panel.steps[-1]
    drag(gaps, "training_in_a_process", lambda: False)
    last = panel.steps[-1]
    rate = (last[0] - first[0]) / max(1e-9, args.seconds)
    panel.stop()
    PhaseGaps.pump_until(lambda: panel.mode == "idle", 120)
    out.update(gaps.report("training_in_a_process"))
    out["steps_per_second_in_a_process"] = round(rate, 2)

    # -- the alternative: the same training in the window's long lane -----------------------
    from models.data import user_set as us
    from models.protocol import Cancelled
    from models.train.vae import TrainConfig, train

    data = us.prepare(panel.scan, us.PrepareOptions())
    steps: list[int] = []

    def run(*, ctx):
        try:
            train(TrainConfig(data="user", minutes=args.seconds / 60 * 2), tmp / "t.safetensors",
                  data_path=data, ctx=ctx,
                  log=lambda s: steps.append(json.loads(s).get("step", 0) or 0))
        except Cancelled:
            pass

    win.jobs.submit("bench-train", run, lane="long", label="training")
    PhaseGaps.pump_until(lambda: max(steps, default=0) >= 5, 300)
    gaps.enter("x")
    s0 = max(steps)
    drag(gaps, "training_in_a_thread", lambda: False)
    out.update(gaps.report("training_in_a_thread"))
    out["steps_per_second_in_a_thread"] = round((max(steps) - s0) / args.seconds, 2)
    win.jobs.cancel("bench-train")
    win.jobs.wait_until_idle(120)
    gaps.stop()
    print(json.dumps(out))
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
