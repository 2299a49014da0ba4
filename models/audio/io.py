"""Audio files: read any soundfile format as mono at a wanted rate, write WAV, draw pictures.

Every problem with a file is an :class:`AudioFileError` whose message names the file and what
is wrong, fit to show in a window or on one CLI line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image
from scipy.signal import resample_poly

from models.checkpoints import first_line

MAX_SECONDS = 20 * 60
FORMATS = "WAV, FLAC, OGG, AIFF, MP3"        # what libsndfile reads, as users know them


class AudioFileError(ValueError):
    """A file that cannot be used as audio; the message says why."""


@dataclass
class AudioClip:
    """Mono float32 audio and where it came from."""

    audio: np.ndarray
    rate: int
    source_rate: int
    source_channels: int
    source_frames: int


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Polyphase resampling (scipy) of mono float32 audio."""
    if src == dst or audio.size == 0:
        return np.ascontiguousarray(audio, np.float32)
    g = int(np.gcd(int(src), int(dst)))
    return resample_poly(audio, dst // g, src // g).astype(np.float32)


def read_audio(path: str | Path, rate: int | None = None,
               max_seconds: float = MAX_SECONDS) -> AudioClip:
    """Read WAV/FLAC/OGG/... mixed to mono, resampled to ``rate`` (default: the file's)."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: the file is empty")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        raise AudioFileError(f"{path}: not an audio file the studio can read ({FORMATS}), "
                             "or a damaged one") from None
    if info.frames == 0:
        raise AudioFileError(f"{path}: the file holds no audio (0 samples)")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise AudioFileError(
            f"{path}: {seconds / 60:.0f} min is too long (at most {max_seconds / 60:.0f} min); "
            "cut the part you want first")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"{path}: could not read the audio ({first_line(exc)})") from None
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise AudioFileError(f"{path}: the audio holds NaN or infinite samples")
    out_rate = int(rate or sr)
    return AudioClip(resample(mono, sr, out_rate), out_rate, int(sr), int(info.channels),
                     int(info.frames))


def write_wav(path: str | Path, audio: np.ndarray, rate: int, *, recipe: Any = None) -> Path:
    """16-bit PCM, clipped to [-1, 1], as FLAC for a ``.flac`` path and WAV otherwise, with
    ``recipe`` in its comment (how to make it again); written whole or not at all (encoded
    in memory, then through a temporary name beside it); a full disk or a folder without
    permission is said in our words."""
    import io

    from models.files import os_error_words, write_whole
    from models.recipe import recipe_text, wav_with_comment

    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise AudioFileError(f"{path}: folder {path.parent} does not exist")
    flac = path.suffix.lower() == ".flac"
    text = recipe_text(recipe, path)
    buf = io.BytesIO()
    try:
        with sf.SoundFile(buf, "w", int(rate), 1, subtype="PCM_16",
                          format="FLAC" if flac else "WAV") as f:
            if flac and text is not None:
                f.comment = text
            f.write(np.clip(np.asarray(audio, np.float32), -1.0, 1.0))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioFileError(f"{path}: could not encode the audio ({first_line(exc)})"
                             ) from None
    data = buf.getvalue()
    if text is not None and not flac:
        data = wav_with_comment(data, text)
    try:
        return write_whole(path, data)
    except OSError as exc:
        raise AudioFileError(os_error_words(exc, path)) from None


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly ``n`` samples."""
    if audio.size >= n:
        return audio[:n]
    return np.pad(audio, (0, n - audio.size))


# --- a colormap shared by the CLI picture and the editor --------------------------------------

# A perceptually ordered dark-to-bright map (close to matplotlib's "magma").
_MAGMA = np.array([
    [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]], np.float32)


def colormap_lut(n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 lookup table of the map."""
    x = np.linspace(0, len(_MAGMA) - 1, n)
    lut = np.stack([np.interp(x, np.arange(len(_MAGMA)), _MAGMA[:, c]) for c in range(3)], 1)
    return lut.astype(np.uint8)


def spectrogram_picture(db: np.ndarray, top_db: float = 80.0,
                        scale: tuple[int, int] = (2, 4)) -> Image.Image:
    """An RGB picture of a ``(bins, frames)`` dB array, low frequencies at the bottom."""
    db = np.asarray(db, np.float32)
    hi = float(db.max()) if db.size else 0.0
    norm = np.clip((db - (hi - top_db)) / top_db, 0.0, 1.0)
    rgb = colormap_lut()[(norm[::-1] * 255).astype(np.int32)]
    img = Image.fromarray(rgb, "RGB")
    return img.resize((max(1, img.width * scale[0]), max(1, img.height * scale[1])),
                      Image.NEAREST)


