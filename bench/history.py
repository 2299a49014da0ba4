"""The History dock with 2,000 entries (JSON on stdout).

2,000 results are put in a fresh history database (pictures at 64 and 512 px, sounds, each
with a recipe the size the studio writes: a 16x16 inpainting's arrays inline), then:

* ``open_s``: from opening the database to the dock filled and painted (target < 0.5 s);
* ``filter_ms``: typing a filter (a prompt's word) to the list refilled and painted;
* scrolling the whole list top to bottom in 40 steps: the largest and 99.9th-percentile
  gaps of a 5 ms main-thread timer (smooth: under 50 ms), and the time per step.
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

import numpy as np  # noqa: E402

N = 2000


def fill(path: str) -> None:
    from models.history import History, thumbnail
    from models.recipe import Recipe

    rng = np.random.default_rng(0)
    h = History(path)
    h.conn.execute("BEGIN")
    small = thumbnail(rgb=(rng.random((64, 64, 3)) * 255).astype(np.uint8))
    large = thumbnail(rgb=(rng.random((512, 512, 3)) * 255).astype(np.uint8))
    sound = thumbnail(audio=np.sin(np.arange(16000) / 7.0))
    for k in range(N):
        kind = ("picture", "picture", "sound")[k % 3]
        r = Recipe.of("inpaint" if kind == "picture" else "vocode",
                      {"seed": k, "prompt": f"a red house {k}" if k % 2 else "", "steps": 25},
                      arrays={"image": rng.random((16, 16, 1)).astype(np.float32),
                              "mask": np.ones((16, 16), np.float32)})
        r.model = {"name": f"model-{k % 5}"}
        thumb = sound if kind == "sound" else (large if k % 2 else small)
        h.add(("Inpainting", "Spectrogram")[kind == "sound"], r, thumb, kind=kind)
    h.conn.execute("COMMIT")
    h.close()


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from bench.phases import PhaseGaps
    from models.history import History
    from studio.history_dock import HistoryDock

    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "history.db")
    fill(path)

    t0 = time.perf_counter()
    dock = HistoryDock(History(path))
    dock.resize(420, 900)
    dock.show()
    app.processEvents()
    dock.view.viewport().repaint()
    open_s = time.perf_counter() - t0
    assert dock.model.rowCount() == N

    t0 = time.perf_counter()
    dock.filter_edit.setText("house 19")
    app.processEvents()
    dock.view.viewport().repaint()
    filter_ms = (time.perf_counter() - t0) * 1000
    shown = dock.model.rowCount()
    dock.filter_edit.setText("")
    app.processEvents()

    gaps = PhaseGaps("scrolling")
    bar = dock.view.verticalScrollBar()
    steps = 40
    t0 = time.perf_counter()
    for k in range(steps + 1):
        bar.setValue(int(bar.maximum() * k / steps))
        PhaseGaps.pump_until(lambda: False, 0.02)
    per_step_ms = ((time.perf_counter() - t0) / (steps + 1) - 0.02) * 1000
    gaps.stop()
    out = {"bench": "history", "entries": N, "open_s": round(open_s, 3),
           "filter_ms": round(filter_ms, 1), "filter_matches": shown,
           "scroll_step_ms": round(per_step_ms, 1),
           **gaps.report("scrolling"),
           "machine": f"{platform.processor() or platform.machine()}, "
                      f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(out))
    dock.history.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
