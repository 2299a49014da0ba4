"""How well an attribute model *controls* speech (issue #14's control figures), on real voices
never heard in training, measured with a tracker the model never learned from (pYIN, after a
70 Hz high-pass; the model's pitch labels came from FCPE) and with DNSMOS.

* pitch +N semitones: the shift pYIN measures (median over the frames voiced in both, per
  clip) and DNSMOS, for the default edit (the recording's peaks moved, formants kept), the
  same with the formants moved too, and the model's full regeneration through the vocoder,
  against librosa's phase-vocoder shift and WORLD (pyworld, where it is installed), and the
  clip regenerated with nothing changed;
* SNR target on the clip with white noise mixed in: DNSMOS BAK (and OVRL) gain and the SNR
  the model reads in the result, the same through full regeneration, and with the target at
  the top of the scale (50 dB: clean);
* loudness +N dB: the level change measured on the loudest half of the frames, as a plain
  gain and through the model (and what the model did before the level is set);
* length: output samples over input samples.
Every output is written as WAV under ``out/<condition>/`` to be listened to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.audio import attributes as at
from models.audio.attributes import active_level_db
from models.audio.io import write_wav
from models.audio.speech_edit import edit_audio
from models.protocol import JobContext


def highpass(x: np.ndarray, cutoff: float = 70.0, rate: int = at.RATE) -> np.ndarray:
    """Hum and rumble out (4th-order Butterworth, both ways): below any voice's pitch, and
    without it pYIN locks onto mains hum in some of the real recordings."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, cutoff, "highpass", fs=rate, output="sos")
    return sosfiltfilt(sos, np.asarray(x, np.float64)).astype(np.float32)


def shift_semitones(before: np.ndarray, after: np.ndarray) -> float:
    """Median pitch change (semitones) over the frames pYIN calls voiced in both (each clip
    high-passed at 70 Hz first)."""
    f_a, f_b = at.pitch_pyin(highpass(before)), at.pitch_pyin(highpass(after))
    n = min(f_a.size, f_b.size)
    both = (f_a[:n] > 0) & (f_b[:n] > 0)
    if both.sum() < 3:
        return float("nan")
    return float(np.median(12 * np.log2(f_b[:n][both] / f_a[:n][both])))


def world_shift(x: np.ndarray, semitones: float, rate: int = at.RATE) -> np.ndarray | None:
    """WORLD analysis / resynthesis with f0 scaled; None where pyworld is not installed."""
    try:
        import pyworld as pw
    except ImportError:
        return None
    x64 = np.asarray(x, np.float64)
    f0, t = pw.harvest(x64, rate, f0_floor=50.0, f0_ceil=1100.0, frame_period=5.0)
    sp = pw.cheaptrick(x64, f0, t, rate)
    ap = pw.d4c(x64, f0, t, rate)
    y = pw.synthesize(f0 * 2 ** (semitones / 12), sp, ap, rate, 5.0)
    return np.asarray(y[: x.size], np.float32)


def phase_vocoder_shift(x: np.ndarray, semitones: float, rate: int = at.RATE) -> np.ndarray:
    import librosa

    return librosa.effects.pitch_shift(np.asarray(x, np.float32), sr=rate,
                                       n_steps=semitones).astype(np.float32)


def measure_control(attributes: Any, vocoder: Any, clips: list[np.ndarray], out: Path | None,
                    semitones: float = 3.0, noisy_snr: float = 5.0, target_snr: float = 30.0,
                    gain_db: float = 6.0, seed: int = 0, ctx: JobContext | None = None,
                    log=print) -> dict[str, Any]:
    from models.eval.vocoders import dnsmos_scores

    rng = np.random.default_rng(seed)
    rate = at.RATE
    rows: dict[str, list[float]] = {}

    def add(key: str, v: float) -> None:
        if np.isfinite(v):
            rows.setdefault(key, []).append(float(v))

    def save(cond: str, k: int, y: np.ndarray) -> None:
        if out is not None:
            (out / cond).mkdir(parents=True, exist_ok=True)
            write_wav(out / cond / f"{k:02d}.wav", y, rate)

    for k, x in enumerate(clips):
        if ctx is not None:
            ctx.check()
            ctx.report(k / max(len(clips), 1))
        x = np.asarray(x, np.float32)
        x = x / (np.abs(x).max() + 1e-6) * 0.5
        save("original", k, x)
        add("original_ovrl", dnsmos_scores(x, rate)["ovrl"])
        # Pitch.
        systems = {
            "ours": edit_audio(attributes, vocoder, x, {"pitch": semitones}).audio,
            "ours_formants_moved": edit_audio(attributes, vocoder, x, {"pitch": semitones},
                                              keep_formants=False).audio,
            "ours_regenerated": edit_audio(attributes, vocoder, x, {"pitch": semitones},
                                           regenerate=True).audio,
            "ours_unchanged": edit_audio(attributes, vocoder, x, {}, regenerate=True).audio,
            "phase_vocoder": phase_vocoder_shift(x, semitones),
        }
        w = world_shift(x, semitones)
        if w is not None:
            systems["world"] = w
        for name, y in systems.items():
            save(f"pitch_{name}", k, y)
            add(f"pitch_{name}_ovrl", dnsmos_scores(y, rate)["ovrl"])
            add(f"pitch_{name}_length_ratio", y.size / x.size)
            if name != "ours_unchanged":
                s = shift_semitones(x, y)
                add(f"pitch_{name}_shift", s)
                add(f"pitch_{name}_within_0.5", float(abs(s - semitones) <= 0.5))
        # Noise: white noise at noisy_snr, then asked for target_snr.
        noisy = at.mix_at_snr(x, rng.standard_normal(x.size).astype(np.float32), noisy_snr)
        noisy = noisy / (np.abs(noisy).max() + 1e-6) * 0.5
        clean = edit_audio(attributes, vocoder, noisy, {"snr": target_snr}).audio
        save("noisy", k, noisy)
        save("denoised", k, clean)
        d_in, d_out = dnsmos_scores(noisy, rate), dnsmos_scores(clean, rate)
        add("noise_bak_before", d_in["bak"])
        add("noise_bak_after", d_out["bak"])
        add("noise_bak_gain", d_out["bak"] - d_in["bak"])
        add("noise_ovrl_gain", d_out["ovrl"] - d_in["ovrl"])
        add("noise_length_ratio", clean.size / noisy.size)
        add("noise_model_reads_snr_db", attributes.analyse(clean)["snr_db"])
        # The same through full regeneration and vocoding (what a pitch change gets).
        regen = edit_audio(attributes, vocoder, noisy, {"snr": target_snr},
                           regenerate=True).audio
        d_r = dnsmos_scores(regen, rate)
        add("noise_regenerated_bak_gain", d_r["bak"] - d_in["bak"])
        add("noise_regenerated_ovrl_gain", d_r["ovrl"] - d_in["ovrl"])
        save("denoised_regenerated", k, regen)
        # The same asked for clean speech (the top of the SNR scale).
        cleanest = edit_audio(attributes, vocoder, noisy, {"snr": 50.0}).audio
        d_50 = dnsmos_scores(cleanest, rate)
        add("noise_to_50_bak_gain", d_50["bak"] - d_in["bak"])
        add("noise_to_50_ovrl_gain", d_50["ovrl"] - d_in["ovrl"])
        save("denoised_to_50", k, cleanest)
        # Loudness.
        quiet = x * np.float32(10 ** (-12 / 20))        # room above for +gain_db
        base = active_level_db(quiet)
        g = edit_audio(attributes, vocoder, quiet, {"loudness": gain_db})
        add("loudness_gain_measured_db", active_level_db(g.audio) - base)
        r = edit_audio(attributes, vocoder, quiet, {"loudness": gain_db}, regenerate=True)
        add("loudness_regenerated_measured_db", active_level_db(r.audio) - base)
        if r.model_level_db is not None:
            add("loudness_regenerated_model_only_db", r.model_level_db)
        save("louder_regenerated", k, r.audio)
        log(f"clip {k + 1}/{len(clips)}")
    mean = {key: round(float(np.mean(v)), 4) for key, v in rows.items()}
    mean["clips"] = len(clips)
    targets = {
        "pitch_shift_within_0.5_of_asked": bool(
            abs(mean.get("pitch_ours_shift", np.nan) - semitones) <= 0.5),
        "pitch_ovrl_above_phase_vocoder": bool(
            mean.get("pitch_ours_ovrl", 0) > mean.get("pitch_phase_vocoder_ovrl", 9)),
        "denoise_bak_gain_at_least_0.8": bool(mean.get("noise_bak_gain", 0) >= 0.8),
        "loudness_within_1_db": bool(
            abs(mean.get("loudness_regenerated_measured_db", np.nan) - gain_db) <= 1.0),
        "length_within_2_percent": bool(all(
            abs(v - 1) <= 0.02 for key, vs in rows.items() if key.endswith("length_ratio")
            for v in vs)),
    }
    return {"asked": {"pitch_semitones": semitones, "noisy_snr_db": noisy_snr,
                      "target_snr_db": target_snr, "loudness_db": gain_db},
            "tracker": "pYIN (librosa) after a 70 Hz high-pass, not the model's labeller "
                       "(FCPE)",
            "mean": mean, "targets": targets}
