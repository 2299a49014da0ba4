"""DNSMOS (P.835 SIG, BAK, OVRL; and P.808) of speech, with the ONNX models that the
package speechmos ships (no download). Audio is mixed to mono and resampled to 16 kHz."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.protocol import JobContext

SR = 16000
AUDIO_EXT = {".wav", ".flac", ".ogg"}


def read_mono_16k(path: str | Path) -> np.ndarray:
    """Mono 16 kHz audio; files over the studio's 20-minute limit are refused from their
    header, before anything is decoded."""
    from models.audio.io import AudioFileError, read_audio

    try:
        return read_audio(path, SR).audio
    except AudioFileError as exc:
        raise ValueError(f"not a readable audio file: {exc}") from None


def dnsmos(paths: list[Path], ctx: JobContext | None = None) -> list[dict[str, float]]:
    """One row per file: file, sig, bak, ovrl, p808 (1..5 scales)."""
    from speechmos import dnsmos as model

    rows = []
    for i, p in enumerate(paths):
        if ctx is not None:
            ctx.report(i / len(paths))
        audio = read_mono_16k(p)
        if len(audio) < SR // 2:
            raise ValueError(f"{p}: shorter than 0.5 s; DNSMOS needs speech of a few seconds")
        r = model.run(audio, SR)
        rows.append({"file": str(p), "sig": float(r["sig_mos"]), "bak": float(r["bak_mos"]),
                     "ovrl": float(r["ovrl_mos"]), "p808": float(r["p808_mos"])})
    return rows


def audio_files(target: str | Path) -> list[Path]:
    target = Path(target)
    if target.is_file():
        return [target]
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix.lower() in AUDIO_EXT)
        if files:
            return files
        raise ValueError(f"{target}: holds no .wav, .flac or .ogg files")
    raise FileNotFoundError(f"{target}: no such file or folder")
