"""Scrub-slider responsiveness of the Latent Explorer (JSON on stdout).

Drags the scrub slider through 200 positions at 60 Hz, programmatically, with the shipped
glyph VAE, and reports slider-to-frame latency (p50/p95, ms), frames shown vs requested, the
largest main-thread gap (a 5 ms QTimer), and decode throughput at batch 1 and 16.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time

from studio.app import offscreen_platform

os.environ.setdefault("QT_QPA_PLATFORM", offscreen_platform())
os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"
os.environ.setdefault("LATENT_STUDIO_SETTINGS", os.path.join(tempfile.mkdtemp(), "s.ini"))
os.environ.setdefault("LATENT_STUDIO_LIBRARY", os.path.join(tempfile.mkdtemp(), "l.json"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QTimer  # noqa: E402

from studio.app import MainWindow, ensure_app  # noqa: E402
from studio.panels.latent import SCRUB_MAX, Slot  # noqa: E402

MODEL = "vae-glyphs"
POSITIONS = 200
HZ = 60.0


def throughput(backend, batch: int, seconds: float = 2.0) -> float:
    z = backend.sample_latents(batch, 0)
    backend.decode(z)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        backend.decode(z)
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> int:
    ensure_app()
    win = MainWindow()
    win.show()
    panel = win.show_panel("latent")
    panel._apply_param("model", MODEL)
    panel.set_slot(0, Slot("random", "a", seed=1))
    panel.set_slot(1, Slot("random", "b", seed=2))
    win.jobs.wait_until_idle(60)

    requested: dict[int, float] = {}
    latencies: list[float] = []
    shown: list[int] = []
    clock = QElapsedTimer()
    clock.start()

    def on_frame(pos: int) -> None:
        shown.append(pos)
        if pos in requested:
            latencies.append(clock.nsecsElapsed() / 1e6 - requested[pos])

    panel.frame_shown.connect(on_frame)
    gaps: list[float] = []
    last = [clock.nsecsElapsed() / 1e6]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        last[0] = now

    ticker = QTimer()
    ticker.setInterval(5)
    ticker.timeout.connect(tick)
    ticker.start()
    # Distinct positions 0, 5, ..., 995: each request can be matched to its frame.
    positions = [round(i * SCRUB_MAX / POSITIONS) for i in range(POSITIONS)]
    step = [0]
    panel.scrub_slider.setSliderDown(True)

    def drag() -> None:
        if step[0] >= len(positions):
            driver.stop()
            return
        pos = positions[step[0]]
        requested[pos] = clock.nsecsElapsed() / 1e6
        panel.scrub_slider.setValue(pos)
        step[0] += 1

    driver = QTimer()
    driver.setInterval(round(1000 / HZ))
    driver.timeout.connect(drag)
    driver.start()
    end = time.monotonic() + POSITIONS / HZ + 10
    while (driver.isActive() or win.jobs.is_busy()) and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.0005)
    panel.scrub_slider.setSliderDown(False)
    ticker.stop()
    win.jobs.wait_until_idle(10)

    backend = win.registry.get(MODEL)
    tp1, tp16 = throughput(backend, 1), throughput(backend, 16)
    lat = np.array(latencies)
    result = {
        "benchmark": "latent_scrub",
        "model": MODEL,
        "positions_requested": len(requested),
        "frames_shown": len(shown),
        "last_frame_is_last_position": bool(shown and shown[-1] == positions[-1]),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2),
                       "p95": round(float(np.percentile(lat, 95)), 2),
                       "max": round(float(lat.max()), 2)},
        "largest_main_thread_gap_ms": round(float(max(gaps)), 2),
        "decode_images_per_s": {"batch_1": round(tp1, 1), "batch_16": round(tp16, 1)},
        "targets": {"p95_ms": 100, "largest_gap_ms": 50, "goal_p95_ms": 33},
        "pass": bool(np.percentile(lat, 95) <= 100 and max(gaps) <= 50),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }
    win.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
