"""How long the UI thread stalls while a CPU-heavy torch job runs (JSON on stdout).

A 5 ms QTimer ticks on the main thread; we record the largest gap between ticks while a
torch job runs continuously for 5 s, once in the job runner's worker thread and once on the
main thread (the way a naive panel would), side by side.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QTimer  # noqa: E402

from models import device as devices  # noqa: E402
from studio.app import ensure_app  # noqa: E402
from studio.jobs import JobRunner  # noqa: E402

DURATION = 5.0
TICK_MS = 5


def heavy(*, ctx, size: int = 384, steps: int = 40) -> float:
    """About 50 ms of matrix products on this CPU, checking for cancel each step."""
    a = torch.randn(size, size)
    acc = 0.0
    for i in range(steps):
        ctx.report(i / steps)
        acc += float((a @ a).sum())
    return acc


def measure(mode: str) -> dict:
    app = ensure_app()
    jobs = JobRunner(synchronous=(mode == "main_thread"))
    gaps: list[float] = []
    clock = QElapsedTimer()
    last = [None]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last[0] is not None:
            gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    done = [0]

    def resubmit(_: object = None) -> None:
        done[0] += 1
        if time.monotonic() < end:
            jobs.submit("bench", heavy, on_result=resubmit)

    clock.start()
    timer.start()
    end = time.monotonic() + DURATION
    if mode == "main_thread":
        # The naive panel: each job runs on the UI thread, events processed between jobs.
        while time.monotonic() < end:
            jobs.submit("bench", heavy, on_result=lambda _: None)
            done[0] += 1
            app.processEvents()
    else:
        resubmit()
        while time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.0005)
    timer.stop()
    jobs.cancel_all()
    jobs.wait_until_idle(10)
    jobs.shutdown()
    g = np.array(gaps)
    return {
        "largest_gap_ms": round(float(g.max()), 2),
        "p99_gap_ms": round(float(np.percentile(g, 99)), 2),
        "mean_gap_ms": round(float(g.mean()), 2),
        "ticks": int(len(g)),
        "jobs_done": done[0],
    }


def main() -> int:
    runner = measure("runner")
    naive = measure("main_thread")
    print(json.dumps({
        "benchmark": "ui_stall",
        "duration_s": DURATION,
        "tick_ms": TICK_MS,
        "job": "40 x (384x384 @ 384x384) torch matmul per job, jobs back to back",
        "runner": runner,
        "main_thread": naive,
        "target_largest_gap_ms": 50,
        "goal_largest_gap_ms": 20,
        "pass": runner["largest_gap_ms"] <= 50,
        "compute_device": devices.current_device(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
