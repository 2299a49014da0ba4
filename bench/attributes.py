"""Speech attribute speed (JSON on stdout): analysing a 4 s clip with the shipped attribute
model, and changing it (pitch +3 semitones and SNR target 40 dB: regenerate the mel, vocode
with the default vocoder, set the level), median of 5 on a held-out voice. Target: 1 s each.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models import device as devices
from models.audio.io import read_audio
from models.audio.speech_edit import edit_audio
from models.protocol import Capability
from models.registry import default_registry

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "unseen-us3.flac"


def timed(fn, n: int = 5) -> float:
    fn()                                     # warm-up (loading, first-call allocations)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 4)


def main() -> None:
    reg = default_registry()
    device = devices.current_device()
    name = reg.default(Capability.ATTRIBUTES)
    vocoder = reg.default(Capability.VOCODE)
    attr, voc = reg.get(name, device), reg.get(vocoder, device)
    x = np.resize(read_audio(CLIP, 16000).audio, 4 * 16000).astype(np.float32)
    out = {
        "bench": "attributes", "date": time.strftime("%Y-%m-%d"), "compute_device": device,
        "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}",
        "model": name, "vocoder": vocoder, "clip_s": 4.0,
        "analyse_s": timed(lambda: attr.analyse(x)),
        "edit_s": timed(lambda: edit_audio(attr, voc, x, {"pitch": 3.0, "snr": 40.0})),
        "target_s": 1.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
