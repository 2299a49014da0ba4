"""Speech corpus for the vocoder, synthesised offline with espeak-ng.

Most of it comes from MBROLA diphone voices (cut from real human recordings, many speakers and
languages); the rest from espeak-ng's formant voices with their variants. Every utterance gets
its own pitch (-p), speed (-s), pitch range (-a is amplitude, so we vary -p and -s only) and
text. Whole *voices* are held out for the test split (the voice's diphone database never
appears in training), so test figures say how the vocoder does on speakers it has not heard.

The MBROLA voices' licence allows non-commercial use only; the model card says so.
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
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def build(out: Path, seed: int = 0, per_voice: int = 40, ctx: JobContext | None = None,
          workers: int = 4) -> dict:
    """Synthesise ``per_voice`` utterances per voice; write ``out`` (.npz) + a manifest."""
    ctx = ctx or JobContext()
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
            ctx.report(done[0] / len(jobs))
        return audio

    with ThreadPoolExecutor(workers) as pool:
        audios = list(pool.map(run, jobs))
    keep = [i for i, a in enumerate(audios) if a.size > RATE // 2]
    pcm = np.concatenate([audios[i] for i in keep])
    lengths = np.array([audios[i].size for i in keep], np.int64)
    manifest = [{k: jobs[i][k] for k in ("voice", "db", "kind", "split", "text", "pitch",
                                          "speed")} for i in keep]
    out.parent.mkdir(parents=True, exist_ok=True)
    peak = float(np.abs(pcm).max()) or 1.0
    np.savez(out, pcm=(pcm / peak * 32000).astype(np.int16), lengths=lengths,
             manifest=np.array(json.dumps(manifest)), rate=np.array(RATE))
    ctx.report(1.0)
    splits = np.array([m["split"] for m in manifest])
    secs = {s: round(float(lengths[splits == s].sum()) / RATE / 60, 1) for s in ("train", "test")}
    return {"utterances": {s: int((splits == s).sum()) for s in ("train", "test")},
            "minutes": secs, "voices": len(voices),
            "test_voices": sorted({m["voice"] for m in manifest if m["split"] == "test"}),
            "path": str(out)}


def load(path: Path) -> tuple[list[np.ndarray], list[dict]]:
    """The utterances (float32 at RATE) and their manifest entries."""
    with np.load(path) as z:
        pcm = z["pcm"].astype(np.float32) / 32768.0
        lengths = z["lengths"]
        manifest = json.loads(str(z["manifest"]))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [pcm[a:b] for a, b in zip(bounds[:-1], bounds[1:])], manifest
