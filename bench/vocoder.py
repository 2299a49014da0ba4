"""Vocoder speed and record-and-vocode latency (JSON on stdout).

1. Real-time factor (seconds of compute per second of audio, median of 5) of every vocoder on
   10 s of speech (a held-out voice, tiled), side by side with Griffin-Lim at 32 iterations.
2. Record-and-vocode: the Spectrogram panel records a 5 s take from the virtual PulseAudio
   device (a held-out voice played into the null sink), and the time from "stop recording" to
   "the vocoded result starts playing" is measured (median of 3 takes), with the default
   vocoder (resources/weights/defaults.json). Target 0.5 s.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from models import device as devices
from studio.app import offscreen_platform

os.environ.setdefault("QT_QPA_PLATFORM", offscreen_platform())
os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"
os.environ.setdefault("LATENT_STUDIO_SETTINGS", os.path.join(tempfile.mkdtemp(), "s.ini"))
os.environ.setdefault("LATENT_STUDIO_LIBRARY", os.path.join(tempfile.mkdtemp(), "l.json"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.audio.io import read_audio  # noqa: E402
from models.protocol import Capability  # noqa: E402
from models.registry import default_registry  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "unseen-us3.flac"


def speech(seconds: float, rate: int) -> np.ndarray:
    x = read_audio(CLIP, rate).audio
    return np.tile(x, int(np.ceil(seconds * rate / x.size)))[: int(seconds * rate)]


def rtf(backend, audio: np.ndarray, runs: int = 5) -> float:
    mel = backend.analyse(audio)
    backend.vocode(mel)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        backend.vocode(mel)
        times.append(time.perf_counter() - t)
    return statistics.median(times) / (audio.size / backend.info.mel.sample_rate)


def record_and_vocode(takes: int = 3, seconds: float = 5.0) -> dict:
    from studio import audio, virtual_audio
    from studio.app import MainWindow, ensure_app

    started = virtual_audio.start(16000)
    audio.refresh_devices()
    app = ensure_app()
    win = MainWindow()
    win.show()
    panel = win.show_panel("spectral")
    neural = default_registry().default(Capability.VOCODE)
    panel.set_vocoder(neural)
    panel.vocode_on_stop.setChecked(True)
    voice = audio.Player()
    out = []
    try:
        for _ in range(takes):
            panel.start_recording()
            voice.play(speech(seconds, 16000), 16000)
            end = time.monotonic() + seconds + 10
            while panel.recorder.seconds < seconds and time.monotonic() < end:
                app.processEvents()
                time.sleep(0.005)
            voice.stop()
            panel.stop_recording()
            while panel.result is None and time.monotonic() < end + 30:
                app.processEvents()
                time.sleep(0.001)
            out.append({"take_s": round(panel.original.size / panel.rate, 2),
                        "stop_to_play_s": round(panel.last_timing["stop_to_play_s"], 4),
                        "vocode_s": round(panel.last_timing["vocode_s"], 4)})
            panel.player.stop()
    finally:
        win.close()
        if started:
            virtual_audio.stop()
    return {"vocoder": neural, "takes": out,
            "median_stop_to_play_s": statistics.median(t["stop_to_play_s"] for t in out),
            "target_s": 0.5}


def main() -> int:
    reg = default_registry()
    ten = speech(10.0, 16000)
    speeds = {}
    for info in reg.infos(Capability.VOCODE):
        backend = reg.get(info.name, "cpu")
        speeds[info.name] = round(rtf(backend, ten), 4)
    result = {
        "bench": "vocoder",
        "date": time.strftime("%Y-%m-%d"),
        "compute_device": devices.current_device(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, CPU",
        "audio_s": 10.0,
        "rtf": speeds,
        "rtf_target": 0.1,
        "rtf_goal": 0.02,
        "griffinlim_iters": 32,
        "record_and_vocode": record_and_vocode() if "--no-record" not in sys.argv else None,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
