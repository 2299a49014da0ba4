"""Audio jobs shared by the Spectrogram panel and the command line."""

from __future__ import annotations

import numpy as np

from models.audio.io import fit_length, resample
from models.protocol import JobContext, MelSettings, VocodeRequest, check_params
from models.registry import Registry


def analyse_clip(registry: Registry, vocoder: str, audio: np.ndarray, rate: int, *,
                 ctx: JobContext | None = None) -> tuple[np.ndarray, np.ndarray, MelSettings]:
    """A clip resampled to the vocoder's rate, its mel by the vocoder's own analysis, and
    the settings used (a job: long clips take a while)."""
    backend = registry.get(vocoder)
    settings = backend.info.mel
    out = resample(audio, rate, settings.sample_rate)
    return out, backend.analyse(out), settings


# A mel longer than two of these is vocoded piece by piece (progress, a prompt cancel)
# by vocoders whose family says how many frames of context each side a piece needs
# (``CHUNK_CONTEXT``: a convolutional vocoder; its pieces join to what one pass gives).
CHUNK_FRAMES = 1024


def vocode(registry: Registry, vocoder: str, request: VocodeRequest, *,
           ctx: JobContext | None = None) -> np.ndarray:
    """Audio of ``request.mel`` by ``vocoder``, its settings checked against what it
    declares (ValueError names a setting it does not have)."""
    from models.registry import family_module

    backend = registry.get(vocoder)
    params = check_params(backend.info.params, request.params, vocoder)
    mel, ctx = request.mel, ctx or JobContext()
    context = int(getattr(family_module(backend.info.family), "CHUNK_CONTEXT", 0))
    frames = mel.shape[1]
    if not context or frames <= 2 * CHUNK_FRAMES:
        return backend.vocode(mel, ctx=ctx, **params)
    hop = backend.info.mel.hop
    starts = list(range(0, frames, CHUNK_FRAMES))
    pieces = []
    for k, s in enumerate(starts):
        e = min(frames, s + CHUNK_FRAMES)
        a, b = max(0, s - context), min(frames, e + context)
        y = backend.vocode(mel[:, a:b], ctx=ctx.part(k / len(starts), (k + 1) / len(starts)),
                           **params)
        pieces.append(y[(s - a) * hop:(e - a) * hop])
    return np.concatenate(pieces)


def round_trip(registry: Registry, vocoder: str, audio: np.ndarray, rate: int,
               params: dict | None = None, *, ctx: JobContext | None = None) -> np.ndarray:
    """Analyse and vocode a clip with ``vocoder`` (its settings checked against what it
    declares), back at the clip's own rate and length."""
    out, mel, settings = analyse_clip(registry, vocoder, audio, rate, ctx=ctx)
    y = vocode(registry, vocoder, VocodeRequest(mel, params or {}), ctx=ctx)
    return fit_length(resample(y, settings.sample_rate, rate), len(audio))
