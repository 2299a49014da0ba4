"""Speech corpus for the vocoder: real human recordings from Debian packages, and speech
synthesised offline with espeak-ng.

Real speech (``kind`` "real"): KLettres' letters and syllables (``klettres-data``, GPL-2+,
one speaker per language, 44.1 kHz OGG) and Asterisk's prompts by three professional
speakers (``asterisk-core-sounds-{en,fr,ru}-wav``, CC-BY-SA-3.0, 8 kHz WAV: telephone band,
nothing above 4 kHz). The short clips of one speaker are joined, with 150 ms pauses, into
utterances of about 4 s. The Asterisk ``-g722`` variants (16 kHz) are not used: nothing here
decodes G.722 (no ffmpeg or sox; libsndfile does not read it).

Synthesised speech: MBROLA diphone voices (cut from real human recordings, many speakers and
languages) and espeak-ng's formant voices with their variants. Every utterance gets its own
pitch (-p), speed (-s) and text.

Whole *speakers* are held out for the test split (a voice's recordings or diphone database
never appear in training), so test figures say how the vocoder does on speakers it has not
heard. The MBROLA voices' licence allows non-commercial use only; the cards say so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from models.audio.io import AudioFileError, read_audio
from models.files import save_npz, write_whole
from models.protocol import JobContext

RATE = 16000
MBROLA_DIR = Path("/usr/share/mbrola")
# Diphone databases held out whole: test speech only (several languages, both sexes).
TEST_DATABASES = ("us3", "fr4", "de6", "it4", "br3")
TEST_FORMANT = ("en-us+f4", "de+m6")
FORMANT_TRAIN = (
    "en", "en-us", "en+f1", "en+f2", "en+f3", "en+m1", "en+m3", "en+m5", "en+m7", "de", "fr",
    "es", "it", "pt", "nl", "pl", "sv", "fi", "ru", "cs", "hu", "tr", "el", "hi", "id",
    "en+croak", "en+klatt", "en+klatt2", "fr+f2", "es+m2",
)

KLETTRES_DIR = Path("/usr/share/klettres")
ASTERISK_DIR = Path("/usr/share/asterisk/sounds")
ASTERISK_SPEAKERS = ("en_US_f_Allison", "fr_CA_f_June", "ru_RU_f_IvrvoiceRU")
# Real speakers held out whole (wideband and telephone, five languages, both sexes).
TEST_REAL = ("klettres-fr", "klettres-de", "klettres-it", "klettres-uk", "klettres-en_GB",
             "asterisk-fr_CA_f_June")
REAL_SOURCES = {
    "klettres": {"package": "klettres-data", "licence": "GPL-2+",
                 "what": "letters and syllables read by one speaker per language (KDE "
                         "KLettres), OGG Vorbis, mostly 44.1 kHz"},
    "asterisk": {"package": "asterisk-core-sounds-en-wav, -fr-wav, -ru-wav",
                 "licence": "CC-BY-SA-3.0",
                 "what": "telephony prompts by three professional speakers (Allison, June, "
                         "IvrvoiceRU), 8 kHz 16-bit WAV (telephone band)"},
}
UTTERANCE_S = 4.0
PAUSE_S = 0.15

# Letters per language family for pseudo-words that espeak-ng reads with that language's rules.
_SYLLABLES = {
    "default": ("ba be bi bo bu ka ke ki ko ku da de di do du fa fe fi fo la le li lo lu ma me mi"
                " mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to"
                " tu va ve vi vo za ze zo"),
}
_ENGLISH = (
    "the quick brown fox jumps over a lazy dog while seven bright children sing about "
    "yellow boats and heavy rain in the old harbour every thursday morning she measured "
    "the pressure of the water through a narrow pipe which whistled softly as cold air "
    "rushed past the window please bring me three large apples from the kitchen table "
    "although nobody expected such a strange journey we arrived before midnight and "
    "watched the stars shining above the quiet village thousands of birds gathered near "
    "the river to feed on small insects our neighbour fixed his broken bicycle with a piece "
    "of wire judge the value of each choice carefully because time is short zebras vanish "
    "into the tall grass whenever thunder shakes the ground how much wood could you carry "
    "up the hill yesterday my sister laughed at the joke until her voice became hoarse"
).split()


def _voices() -> list[dict]:
    """The MBROLA voices whose diphone database is installed, plus formant voices."""
    out = []
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError("espeak-ng not found; run scripts/system-deps.sh --data")
    listing = subprocess.run(["espeak-ng", "--voices=mb"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
    for line in listing:
        parts = line.split()
        if len(parts) < 5:
            continue
        lang, file = parts[1], parts[4]
        name = file.split("/")[-1]                 # mb-fr4-en
        db = name.split("-")[1]                    # fr4
        if not (MBROLA_DIR / db / db).is_file():
            continue
        out.append({"voice": name, "lang": lang, "db": db, "kind": "mbrola",
                    "split": "test" if db in TEST_DATABASES else "train"})
    for v in FORMANT_TRAIN:
        out.append({"voice": v, "lang": v.split("+")[0], "db": "", "kind": "formant",
                    "split": "train"})
    for v in TEST_FORMANT:
        out.append({"voice": v, "lang": v.split("+")[0], "db": "", "kind": "formant",
                    "split": "test"})
    return out


def _text(rng: np.random.Generator, lang: str) -> str:
    words = []
    syl = _SYLLABLES["default"].split()
    n = int(rng.integers(5, 16))
    english = lang.startswith("en")
    for _ in range(n):
        if english and rng.random() < 0.8:
            words.append(str(rng.choice(_ENGLISH)))
        else:
            words.append("".join(rng.choice(syl, size=int(rng.integers(1, 4)))))
    text = " ".join(words)
    if rng.random() < 0.3:
        cut = int(rng.integers(2, n))
        text = " ".join(words[:cut]) + ", " + " ".join(words[cut:])
    return text + str(rng.choice([".", ".", "?", "!"]))


def synthesize(voice: str, text: str, pitch: int, speed: int) -> np.ndarray:
    """One utterance as float32 mono at RATE (espeak-ng writes 16 or 22.05 kHz)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed),
                        "-w", tmp.name, text], capture_output=True, check=True, timeout=60)
        audio = read_audio(tmp.name, RATE).audio
    # Trim leading/trailing silence to 100 ms.
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    if loud.size == 0:
        return np.zeros(0, np.float32)
    pad = RATE // 10
    return audio[max(0, loud[0] - pad): loud[-1] + 1 + pad]


def real_recordings() -> list[dict]:
    """Every real recording installed: path, speaker, language, source, split."""
    out = []
    for f in sorted(KLETTRES_DIR.glob("*/*/*.ogg")):
        lang = f.parts[-3]
        speaker = f"klettres-{lang}"
        out.append({"path": str(f), "speaker": speaker, "lang": lang, "source": "klettres",
                    "split": "test" if speaker in TEST_REAL else "train"})
    for name in ASTERISK_SPEAKERS:
        speaker = f"asterisk-{name}"
        for f in sorted((ASTERISK_DIR / name).rglob("*.wav")):
            out.append({"path": str(f), "speaker": speaker, "lang": name.split("_")[0],
                        "source": "asterisk",
                        "split": "test" if speaker in TEST_REAL else "train"})
    return out


def _trim(audio: np.ndarray, pad: int = RATE // 20) -> np.ndarray:
    """The clip without its leading and trailing silence (-45 dB below its peak), ``pad``
    samples kept each side."""
    if audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 10 ** (-45 / 20))
    return audio[max(0, loud[0] - pad): loud[-1] + 1 + pad]


def join_clips(clips: list[np.ndarray], seconds: float = UTTERANCE_S,
               pause: float = PAUSE_S) -> list[np.ndarray]:
    """Short clips of one speaker joined in order, with pauses, into utterances of about
    ``seconds`` (a clip longer than that is an utterance of its own)."""
    gap = np.zeros(int(pause * RATE), np.float32)
    out, cur, n = [], [], 0
    for c in clips:
        if cur and n + c.size > seconds * RATE:
            out.append(np.concatenate(cur[:-1]))
            cur, n = [], 0
        cur += [c, gap]
        n += c.size + gap.size
    if cur:
        out.append(np.concatenate(cur[:-1]))
    return out


def _real_utterances(ctx: JobContext) -> tuple[list[np.ndarray], list[dict], dict]:
    """Real speech as utterances (float32 at RATE, peak-normalised per clip), their
    manifest entries, and per-speaker facts for the corpus card."""
    recs = real_recordings()
    by_speaker: dict[str, list[dict]] = {}
    for r in recs:
        by_speaker.setdefault(r["speaker"], []).append(r)
    audios, manifest, speakers = [], [], {}
    for k, (speaker, items) in enumerate(sorted(by_speaker.items())):
        ctx.check()
        ctx.report(0.5 * k / max(len(by_speaker), 1))
        clips, rates = [], set()
        for r in items:
            try:
                clip = read_audio(r["path"], RATE)
            except AudioFileError:
                continue
            a = _trim(clip.audio)
            if a.size < RATE // 5 or not np.abs(a).max() > 1e-3:
                continue
            rates.add(clip.source_rate)
            clips.append((0.9 * a / np.abs(a).max()).astype(np.float32))
        joined = join_clips(clips)
        first = items[0]
        for u in joined:
            audios.append(u)
            manifest.append({"voice": speaker, "db": "", "kind": "real",
                             "source": first["source"], "split": first["split"],
                             "text": "", "pitch": 0, "speed": 0})
        speakers[speaker] = {"source": first["source"], "lang": first["lang"],
                             "split": first["split"], "files": len(clips),
                             "source_rates": sorted(rates),
                             "minutes": round(sum(u.size for u in joined) / RATE / 60, 2)}
    return audios, manifest, speakers


def build(out: Path, seed: int = 0, per_voice: int = 40, ctx: JobContext | None = None,
          workers: int = 4) -> dict:
    """Real recordings as utterances, and ``per_voice`` synthesised utterances per voice;
    write ``out`` (.npz with a manifest) and the corpus card beside it (``.json``)."""
    ctx = ctx or JobContext()
    real_audio, real_manifest, speakers = _real_utterances(ctx)
    voices = _voices()
    rng = np.random.default_rng(seed)
    jobs = []
    for v in voices:
        n = per_voice if v["kind"] == "mbrola" else max(4, per_voice // 3)
        for _ in range(n):
            jobs.append({**v, "text": _text(rng, v["lang"]),
                         "pitch": int(rng.integers(15, 90)), "speed": int(rng.integers(110, 230))})
    done = [0]

    def run(job: dict) -> np.ndarray:
        try:
            audio = synthesize(job["voice"], job["text"], job["pitch"], job["speed"])
        except (subprocess.SubprocessError, OSError, AudioFileError):
            audio = np.zeros(0, np.float32)
        done[0] += 1
        if done[0] % 50 == 0:
            ctx.check()
            ctx.report(0.5 + 0.5 * done[0] / len(jobs))
        return audio

    with ThreadPoolExecutor(workers) as pool:
        audios = list(pool.map(run, jobs))
    keep = [i for i, a in enumerate(audios) if a.size > RATE // 2]
    audios = real_audio + [audios[i] for i in keep]
    manifest = real_manifest + [
        {k: jobs[i][k] for k in ("voice", "db", "kind", "split", "text", "pitch", "speed")}
        for i in keep]
    pcm = np.concatenate(audios)
    lengths = np.array([a.size for a in audios], np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    peak = float(np.abs(pcm).max()) or 1.0
    save_npz(out, pcm=(pcm / peak * 32000).astype(np.int16), lengths=lengths,
             manifest=np.array(json.dumps(manifest)), rate=np.array(RATE))
    ctx.report(1.0)
    card = corpus_card(manifest, lengths, speakers, seed)
    write_whole(out.with_suffix(".json"), json.dumps(card, indent=1).encode())
    return {"utterances": card["utterances"], "minutes": card["minutes"],
            "voices": len(voices) + len(speakers),
            "test_voices": sorted({m["voice"] for m in manifest if m["split"] == "test"}),
            "path": str(out)}


def corpus_card(manifest: list[dict], lengths: np.ndarray, speakers: dict, seed: int
                ) -> dict:
    """Sources, licences, minutes per split and kind, speakers, rates, how the split is
    made."""
    kinds = np.array([m["kind"] for m in manifest])
    splits = np.array([m["split"] for m in manifest])
    minutes = {s: {k: round(float(lengths[(splits == s) & (kinds == k)].sum()) / RATE / 60, 1)
                   for k in ("real", "mbrola", "formant")} for s in ("train", "test")}
    return {
        "name": "speech", "build": "latent-studio data build speech", "seed": seed,
        "rate": RATE,
        "sources": {
            **REAL_SOURCES,
            "mbrola": {"package": "mbrola-* (Debian contrib/non-free) driven by espeak-ng",
                       "licence": "MBROLA voices: non-commercial use only",
                       "what": "diphones cut from recordings of real speakers, read from "
                               "random text with random pitch and speed"},
            "formant": {"package": "espeak-ng", "licence": "GPL-3+",
                        "what": "espeak-ng's formant synthesis"}},
        "split": ("by speaker: every recording or diphone database of a test speaker is in "
                  "the test split only. Real test speakers: " + ", ".join(TEST_REAL)
                  + f"; MBROLA: {', '.join(TEST_DATABASES)}; formant: "
                  + ", ".join(TEST_FORMANT)),
        "utterances": {s: int((splits == s).sum()) for s in ("train", "test")},
        "minutes": {s: round(sum(minutes[s].values()), 1) for s in ("train", "test")},
        "minutes_by_kind": minutes,
        "hours": {s: round(sum(minutes[s].values()) / 60, 2) for s in ("train", "test")},
        "real_speakers": speakers,
        "not_used": "asterisk-core-sounds-*-g722 (16 kHz): no G.722 decoder on this "
                    "system (no ffmpeg or sox; libsndfile does not read it)",
    }


def load(path: Path) -> tuple[list[np.ndarray], list[dict]]:
    """The utterances (float32 at RATE) and their manifest entries."""
    with np.load(path) as z:
        pcm = z["pcm"].astype(np.float32) / 32768.0
        lengths = z["lengths"]
        manifest = json.loads(str(z["manifest"]))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [pcm[a:b] for a, b in zip(bounds[:-1], bounds[1:])], manifest
