"""Speech attributes measured from signals: the labels an attribute model learns from, and the
baselines it is measured against (issue #14's groundwork; no learned model here yet).

Per mel frame (hop 256 at 16 kHz: 62.5 frames/s, the vocoders' convention):
* ``f0_hz``: the fundamental frequency, 0 where unvoiced. Labels come from FCPE (torchfcpe,
  MIT, its weights ship in the package); pYIN (librosa) is the classic baseline.
* ``loudness_db``: RMS level of the frame in dB full scale (floor -100).
Per clip:
* ``snr_db``: known when noise is mixed at a chosen SNR (:func:`mix_at_snr`).
* ``c50_db``: clarity of a room impulse response (early 50 ms vs the rest,
  :func:`c50_of_rir`), known when speech is convolved with a simulated room
  (:func:`simulate_room`, pyroomacoustics' image-source shoebox).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000
HOP = 256
FLOOR_DB = -100.0


def frames(n_samples: int, hop: int = HOP) -> int:
    """Mel frames of a clip, as models.audio.features.log_mel makes them (``L // hop``; frame
    k is centred on sample ``(k + 0.5) * hop``)."""
    return n_samples // hop


def frame_centres(n_samples: int, hop: int = HOP) -> np.ndarray:
    return (np.arange(frames(n_samples, hop)) + 0.5) * hop


def loudness_db(x: np.ndarray, hop: int = HOP, win: int = 1024) -> np.ndarray:
    """RMS level per mel frame (dBFS), over the same 1024-sample windows as the mel's."""
    x = np.asarray(x, np.float64)
    pad = np.pad(x, ((win - hop) // 2, (win - hop) // 2))
    n = frames(x.size, hop)
    idx = np.arange(n)[:, None] * hop + np.arange(win)[None]
    idx = np.minimum(idx, pad.size - 1)
    rms = np.sqrt(np.mean(pad[idx] ** 2, axis=1))
    return np.maximum(20 * np.log10(rms + 1e-12), FLOOR_DB).astype(np.float32)


def active_power(x: np.ndarray) -> float:
    """Mean power over the loudest half of the mel frames (the speech's active frames); the
    clip's mean power where it has no whole frame."""
    lev = loudness_db(x)
    if lev.size == 0:
        return float(np.mean(np.asarray(x, np.float64) ** 2)) if np.size(x) else 0.0
    return float(np.mean(10 ** (lev[lev >= np.median(lev)] / 10)))


def active_level_db(x: np.ndarray) -> float:
    """:func:`active_power` in dB: the level of the speech."""
    return float(10 * np.log10(active_power(x) + 1e-20))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so the power ratio over the speech's active frames (the
    loudest 50 %) is ``snr_db``."""
    s = np.asarray(speech, np.float64)
    n = np.resize(np.asarray(noise, np.float64), s.size)
    p_s = active_power(s)
    p_n = float(np.mean(n ** 2)) + 1e-20
    return (s + n * np.sqrt(p_s / p_n * 10 ** (-snr_db / 10))).astype(np.float32)


def c50_of_rir(rir: np.ndarray, rate: int = RATE) -> float:
    """Clarity C50 (dB): energy of the first 50 ms after the direct sound over the rest."""
    h = np.asarray(rir, np.float64)
    start = int(np.argmax(np.abs(h)))
    cut = start + int(0.05 * rate)
    early, late = float(np.sum(h[start:cut] ** 2)), float(np.sum(h[cut:] ** 2))
    return float(10 * np.log10((early + 1e-20) / (late + 1e-20)))


@dataclass
class Room:
    rir: np.ndarray
    c50_db: float
    rt60_s: float
    size_m: tuple[float, float, float]


def simulate_room(rng: np.random.Generator, rate: int = RATE) -> Room:
    """A random shoebox room (3-12 m a side, 2.4-4 m high), wall absorption, a source and a
    microphone inside it; the image-source impulse response and its C50."""
    import pyroomacoustics as pra

    size = (rng.uniform(3, 12), rng.uniform(3, 10), rng.uniform(2.4, 4.0))
    rt60 = rng.uniform(0.15, 1.2)
    try:
        absorption, order = pra.inverse_sabine(rt60, size)
    except ValueError:              # too reverberant for the room: the most it allows
        absorption, order = 0.05, 40
    order = int(min(order, 30))
    room = pra.ShoeBox(size, fs=rate, materials=pra.Material(absorption), max_order=order)
    margin = 0.5
    src = [rng.uniform(margin, d - margin) for d in size]
    mic = [rng.uniform(margin, d - margin) for d in size]
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float32)
    rir = rir / (np.max(np.abs(rir)) + 1e-12)
    return Room(rir, c50_of_rir(rir, rate), float(rt60), size)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` through ``rir``, aligned on the direct sound, same length and RMS level."""
    from scipy.signal import fftconvolve

    start = int(np.argmax(np.abs(rir)))
    y = fftconvolve(x, rir[start:])[: x.size]
    return (y * np.sqrt((np.mean(x ** 2) + 1e-20) / (np.mean(y ** 2) + 1e-20))).astype(
        np.float32)


_FCPE = None


def pitch_fcpe(x: np.ndarray, rate: int = RATE, threshold: float = 0.006) -> np.ndarray:
    """f0 (Hz) per mel frame by FCPE, 0 where unvoiced."""
    import torch

    global _FCPE
    if _FCPE is None:
        from torchfcpe import spawn_bundled_infer_model

        _FCPE = spawn_bundled_infer_model(device="cpu")
    n = frames(len(x))
    with torch.inference_mode():
        f0 = _FCPE.infer(torch.as_tensor(np.asarray(x, np.float32))[None, :, None], sr=rate,
                         decoder_mode="local_argmax", threshold=threshold, f0_min=50,
                         f0_max=1100, interp_uv=False, output_interp_target_length=n)
    return np.nan_to_num(f0[0, :, 0].float().numpy()).clip(min=0).astype(np.float32)


def pitch_pyin(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """f0 (Hz) per mel frame by pYIN (librosa), 0 where unvoiced: the classic baseline."""
    import librosa

    f0, voiced, _ = librosa.pyin(np.asarray(x, np.float32), fmin=50, fmax=1100, sr=rate,
                                 frame_length=1024, hop_length=HOP, center=True)
    f0 = np.where(voiced, np.nan_to_num(f0), 0.0)
    # pYIN's frames are centred on k * hop; the mel's on (k + 0.5) * hop: the nearest.
    idx = np.minimum(np.round(frame_centres(len(x)) / HOP).astype(int), f0.size - 1)
    return f0[idx].astype(np.float32)


def pitch_error(f0: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Mean absolute error in Hz and cents over the frames both call voiced, and how often
    they agree on voicing."""
    f0, ref = np.asarray(f0, np.float64), np.asarray(ref, np.float64)
    n = min(f0.size, ref.size)
    f0, ref = f0[:n], ref[:n]
    both = (f0 > 0) & (ref > 0)
    if not both.any():
        return {"hz": float("nan"), "cents": float("nan"),
                "voicing_agreement": float(np.mean((f0 > 0) == (ref > 0)))}
    return {"hz": float(np.mean(np.abs(f0[both] - ref[both]))),
            "cents": float(np.mean(np.abs(1200 * np.log2(f0[both] / ref[both])))),
            "voicing_agreement": float(np.mean((f0 > 0) == (ref > 0)))}
