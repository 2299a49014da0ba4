"""Style Mixer responsiveness with the shipped glyph style generator (JSON on stdout).

A 4x4 grid at 64x64 in the real panel: 4 rows are pictures (letters drawn with Pillow's
own font, encoded), 4 columns are seeds.

* ``first_grid_s``: from adding the sources (model not loaded yet) to the full grid shown;
* ``crossover_ms``: from ticking a layer box to the re-rendered grid shown (p50/p95 over 30
  changes), and ``per_cell_ms`` = that / 16 (every cell changes with the crossover);
* ``write_13_chars_s``: "write in this style" for "Hamburgefonts" from one style glyph
  (encoding the glyph included), p50 of 10.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time

from models import device as devices
from studio.app import offscreen_platform

os.environ.setdefault("QT_QPA_PLATFORM", offscreen_platform())
os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"
os.environ.setdefault("LATENT_STUDIO_SETTINGS", os.path.join(tempfile.mkdtemp(), "s.ini"))
os.environ.setdefault("LATENT_STUDIO_LIBRARY", os.path.join(tempfile.mkdtemp(), "l.json"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from PySide6.QtCore import QCoreApplication  # noqa: E402

from models.registry import default_registry  # noqa: E402
from models.tasks import stylemix as sm  # noqa: E402
from models.tasks.pictures import picture_for_model  # noqa: E402
from studio.app import MainWindow, ensure_app  # noqa: E402

MODEL = "stylegen-glyphs"


def drawn(ch: str, stroke: int = 0) -> np.ndarray:
    img = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(img).text((48, 48), ch, font=ImageFont.load_default(size=64), fill="black",
                             anchor="mm", stroke_width=stroke, stroke_fill="black")
    return np.asarray(img)


def wait_for(cond, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    while not cond():
        QCoreApplication.processEvents()
        time.sleep(0.0005)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the grid did not arrive")
    return time.perf_counter() - t0


def main() -> int:
    if MODEL not in {i.name for i in default_registry().infos()}:
        print(json.dumps({"bench": "stylemix", "skipped": f"{MODEL} is not shipped"}))
        return 0
    app = ensure_app()
    win = MainWindow()
    win.resize(1400, 900)
    win.show()
    panel = win.show_panel("stylemix")
    panel.doc.set_param("model", MODEL)
    shown: list[float] = []
    original = panel._show_grid

    def recording(result, model, key=(), sources=()):
        original(result, model, key, sources)
        shown.append(time.perf_counter())

    panel._show_grid = recording
    QCoreApplication.processEvents()
    t0 = time.perf_counter()
    for ch in "AgRk":
        panel.add_picture("rows", drawn(ch), ch)
    for s in (1, 2, 3, 4):
        panel.add_seed("cols", s)
    wait_for(lambda: panel.grid_rgb is not None and panel.grid_rgb.shape[:2] == (4, 4))
    first = (shown[-1] if shown else time.perf_counter()) - t0

    lat = []
    for i in range(30):
        n = len(shown)
        box = panel.layer_checks[2 + i % 8]
        t = time.perf_counter()
        box.setChecked(not box.isChecked())
        wait_for(lambda n=n: len(shown) > n)
        lat.append((shown[-1] - t) * 1000)
    lat.sort()

    reg = default_registry()
    style_pic = picture_for_model(reg, MODEL, drawn("n", 3))[0]
    times = []
    for _ in range(10):
        t = time.perf_counter()
        style = sm.style_code(reg, MODEL, [style_pic])
        line = sm.write_text(reg, MODEL, "Hamburgefonts", style)
        times.append(time.perf_counter() - t)
    times.sort()
    win.shutdown()
    win.close()
    app.processEvents()
    out = {
        "bench": "stylemix",
        "model": MODEL,
        "grid": "4x4 at 64x64 (4 encoded pictures x 4 seeds)",
        "first_grid_s": round(first, 3),
        "crossover_ms_p50": round(lat[len(lat) // 2], 1),
        "crossover_ms_p95": round(lat[int(len(lat) * 0.95) - 1], 1),
        "per_cell_ms_p50": round(lat[len(lat) // 2] / 16, 2),
        "write_13_chars_s": round(times[len(times) // 2], 3),
        "line_shape": list(line.shape),
        "compute_device": devices.current_device(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{torch.get_num_threads()} torch threads, torch {torch.__version__}",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
