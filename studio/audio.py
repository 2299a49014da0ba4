"""Audio output through sounddevice (the only module that imports it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class AudioError(RuntimeError):
    """No usable output device, or a file that cannot be played; the message says which."""


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # PortAudio missing
        raise AudioError(f"audio output is unavailable: {exc}") from None
    return sounddevice


def play_file(path: str | Path) -> float:
    """Start playing a file without blocking; returns its length in seconds."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(f"{path}: not a playable audio file ({exc})") from None
    play(data, sr)
    return len(data) / sr


def play(data: np.ndarray, sr: int) -> None:
    sd = _sd()
    try:
        sd.stop()
        sd.play(data, sr)
    except sd.PortAudioError as exc:
        raise AudioError(f"no audio output device could play this ({exc})") from None


def stop() -> None:
    try:
        _sd().stop()
    except AudioError:
        pass
