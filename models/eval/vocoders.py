"""Vocoders compared on real voices never heard in training: the round trip audio -> mel ->
vocoder against the original, per system and per test speaker.

Figures: multi-resolution STFT distance and mel distance (models.audio.features), and DNSMOS
SIG / BAK / OVRL (models.eval.dnsmos) of the round trips and of the originals. Every clip is
written as WAV under ``out/<system>/<speaker>-<k>.wav`` (the originals under ``original``),
so the folders make a listening study (MUSHRA, the original as the reference) as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.audio.features import log_mel, mel_distance, mrstft_distance
from models.audio.io import write_wav
from models.files import write_with
from models.protocol import JobContext

REFERENCE = "original"


def test_clips(clips: list[np.ndarray], manifest: list[dict], kind: str = "real",
               per_voice: int = 6, seconds: float = 4.0, seed: int = 0
               ) -> dict[str, list[np.ndarray]]:
    """Up to ``per_voice`` test-split clips of each test speaker of ``kind``, at most
    ``seconds`` long (a seeded choice)."""
    rng = np.random.default_rng(seed)
    by_voice: dict[str, list[int]] = {}
    for i, m in enumerate(manifest):
        if m["split"] == "test" and m["kind"] == kind and clips[i].size:
            by_voice.setdefault(m["voice"], []).append(i)
    out = {}
    for voice, idx in sorted(by_voice.items()):
        pick = sorted(rng.choice(idx, size=min(per_voice, len(idx)), replace=False))
        out[voice] = [clips[i][: int(seconds * 16000)] for i in pick]
    return out


def dnsmos_scores(audio: np.ndarray, rate: int) -> dict[str, float]:
    from speechmos import dnsmos as model

    from models.audio.io import resample

    # As a 16-bit WAV of it would hold it: a vocoder's overshoot is clipped.
    r = model.run(np.clip(resample(audio, rate, 16000), -1.0, 1.0), 16000)
    return {"sig": float(r["sig_mos"]), "bak": float(r["bak_mos"]),
            "ovrl": float(r["ovrl_mos"])}


def compare(systems: dict[str, Any], voices: dict[str, list[np.ndarray]], mel_settings,
            out: Path, ctx: JobContext | None = None, dnsmos: bool = True) -> dict[str, Any]:
    """Round-trip every clip through every system; returns per system (and ``original``)
    the mean figures over all clips and per voice."""
    rate = mel_settings.sample_rate
    for name in (REFERENCE, *systems):
        (out / name).mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    total = sum(len(c) for c in voices.values()) * (len(systems) + 1)
    done = 0
    for voice, clips in voices.items():
        for k, x in enumerate(clips):
            name = f"{voice}-{k}.wav"
            write_wav(out / REFERENCE / name, x, rate)
            rows.setdefault(REFERENCE, {}).setdefault(voice, []).append(
                dnsmos_scores(x, rate) if dnsmos else {})
            mel = log_mel(x, mel_settings).numpy()
            for system, backend in systems.items():
                if ctx is not None:
                    ctx.check()
                    ctx.report(done / total)
                y = backend.vocode(mel)[: x.size]
                write_wav(out / system / name, y, rate)
                row = {"mrstft": mrstft_distance(y, x), "mel": mel_distance(y, x, mel_settings)}
                if dnsmos:
                    row.update(dnsmos_scores(y, rate))
                rows.setdefault(system, {}).setdefault(voice, []).append(row)
                done += 1
    result: dict[str, Any] = {}
    for system, by_voice in rows.items():
        every = [r for rs in by_voice.values() for r in rs]
        result[system] = {
            "mean": _means(every),
            "per_voice": {v: _means(rs) for v, rs in sorted(by_voice.items())},
            "clips": len(every)}
    return result


def real_voice_section(res: dict[str, Any], ours: str, baseline: str) -> dict[str, Any]:
    """A model card's ``measured_real_voices`` from :func:`compare`'s result: system
    ``ours`` as "ours", ``baseline`` (Griffin-Lim 32) as "griffinlim32", the others under
    their names; the issue's targets judged per speaker."""
    names = {ours: "ours", baseline: "griffinlim32"}
    res = {names.get(k, k): v for k, v in res.items()}
    per, base = res["ours"]["per_voice"], res["griffinlim32"]["per_voice"]
    orig = res["original"]["per_voice"]
    summary = {name: {k: r["mean"].get(k) for k in ("ovrl", "sig", "bak", "mrstft", "mel")}
               for name, r in res.items()}
    targets = {
        "ovrl_at_least_griffinlim_plus_0.2_every_voice": all(
            per[v]["ovrl"] >= base[v]["ovrl"] + 0.2 for v in per),
        "mrstft_below_griffinlim_every_voice": all(
            per[v]["mrstft"] < base[v]["mrstft"] for v in per),
        "ovrl_within_0.3_of_originals": bool(
            res["original"]["mean"]["ovrl"] - res["ours"]["mean"]["ovrl"] <= 0.3),
        "ovrl_within_0.3_of_originals_every_voice": all(
            orig[v]["ovrl"] - per[v]["ovrl"] <= 0.3 for v in per),
    }
    return {"what": "round trip audio -> mel -> vocoder on up to 6 clips (<= 4 s) of each real "
                    "test speaker (never heard in training); DNSMOS P.835 and distances to "
                    "the original",
            "summary": summary, "targets": targets,
            "per_voice": {name: r["per_voice"] for name, r in res.items()},
            "clips": res["ours"]["clips"]}


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in rows for k in r})
    return {k: round(float(np.mean([r[k] for r in rows if k in r])), 4) for k in keys}


def listening_study(folder: Path, systems: list[str], study_path: Path, bundle: Path,
                    per_voice: int = 1, title: str = "") -> Path:
    """A blind MUSHRA study (the studio's Evaluation workbench: models.eval.study) of
    ``per_voice`` clips of every speaker that :func:`compare` wrote under ``folder``, with the
    originals as the hidden reference (and the workbench's 3.5 kHz anchor), exported as a
    bundle without ratings. Stimuli are copied as FLAC beside the study."""
    import soundfile as sf

    from models.eval.study import Study, StudyError

    originals = sorted((folder / REFERENCE).glob("*.wav"))
    by_voice: dict[str, list[Path]] = {}
    for p in originals:
        by_voice.setdefault(p.stem.rsplit("-", 1)[0], []).append(p)
    items = [p.stem for ps in by_voice.values() for p in ps[:per_voice]]
    if not items:
        raise StudyError(f"{folder}: no round trips to make a study of")
    stimuli = study_path.with_name(study_path.stem + "-stimuli")
    dirs = {}
    for system in (REFERENCE, *systems):
        dirs[system] = stimuli / system
        dirs[system].mkdir(parents=True, exist_ok=True)
        for item in items:
            src = folder / system / f"{item}.wav"
            if not src.is_file():
                raise StudyError(f"{src}: missing; run the comparison with this system")
            audio, rate = sf.read(src, dtype="float32")
            write_with(dirs[system] / f"{item}.flac", lambda tmp, a=audio, r=rate: sf.write(
                str(tmp), a, r, subtype="PCM_16", format="FLAC"))
    study = Study.create(study_path, "mushra", dirs, reference=REFERENCE,
                         title=title or "Vocoders on real voices never heard in training")
    try:
        return study.export_bundle(bundle)
    finally:
        study.close()
