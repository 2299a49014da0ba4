"""Record-to-first-sample: how late a take starts after Record is pressed, in a fresh window,
through a real (virtual) sound device (JSON on stdout).

A fresh main window is opened on a user-space PulseAudio null sink; Record is pressed
PRESS_AFTER_S seconds after the window opened (a user's quickest reach for the button) and
held HOLD_S seconds. Figures: the capture time of the take's first sample after the press
(PortAudio's input timestamps), how long the Record click blocked the window, and how many
seconds of audio the hold gave. ``cold`` is the same without the stream opened at startup
(what the studio did before): the stream opens when Record is pressed.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_STUDIO_NO_PROMPT", "1")

PRESS_AFTER_S = 2.0
HOLD_S = 2.7


def measure(prearm: bool) -> dict:
    from models.registry import Registry
    from studio.app import MainWindow, ensure_app
    from studio.panels.spectral import SpectralPanel

    app = ensure_app()
    original = SpectralPanel.prearm
    if not prearm:
        SpectralPanel.prearm = lambda self: None
    try:
        win = MainWindow(registry=Registry())
        win.show()
        panel = win.show_panel("spectral")

        def wait(seconds: float) -> None:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                app.processEvents()
                time.sleep(0.005)

        wait(PRESS_AFTER_S)
        t0 = time.perf_counter()
        panel.record_btn.click()
        blocked = time.perf_counter() - t0
        wait(max(0.0, HOLD_S - (time.perf_counter() - t0)))
        panel.record_btn.click()
        got = panel.original.size / panel.rate
        delay = panel.recorder.start_delay
        win.close()
    finally:
        SpectralPanel.prearm = original
    # Without a capture clock the delay is what the hold lost.
    start = delay if delay is not None and delay == delay else max(0.0, HOLD_S - got)
    return {"record_to_first_sample_ms": round(1000 * (start + blocked), 1),
            "record_click_blocked_ms": round(1000 * blocked, 1),
            "held_s": HOLD_S, "recorded_s": round(got, 3)}


def main() -> int:
    from studio import audio
    from studio import virtual_audio as va

    started = va.start(rate=16000)
    audio.refresh_devices()
    try:
        out = {"bench": "record_start", "press_after_s": PRESS_AFTER_S,
               "prearmed": measure(True), "cold": measure(False),
               "machine": platform.processor() or platform.machine(),
               "date": time.strftime("%Y-%m-%d")}
    finally:
        if started:
            va.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
