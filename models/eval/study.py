"""Blind subjective tests stored in one SQLite file per study (WAL, a commit per rating).

A study is made of systems (conditions), each a folder of stimuli; items are the file stems
every system has. Kinds:

- ``mos``: one stimulus per trial, rated on the ACR scale 1..5 (ITU-T P.800 labels);
- ``ab``: two systems' versions of one item, sides random; answer A, B or no preference;
- ``mushra``: all systems' versions of one item plus a hidden reference and a 3.5 kHz
  low-pass anchor made from the reference, each rated 0..100 (ITU-R BS.1534).

Trial order is randomised per rater with a recorded seed; system names are never shown.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sqlite3
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.eval import stats

SCHEMA_VERSION = 1
KINDS = ("mos", "ab", "mushra")
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
AUDIO_EXT = {".wav", ".flac", ".ogg"}
ACR_LABELS = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}
REF, ANCHOR, TIE = "__reference__", "__anchor__", "__none__"
ANCHOR_CUTOFF_HZ = 3500.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE systems (name TEXT PRIMARY KEY, folder TEXT NOT NULL);
CREATE TABLE stimuli (system TEXT NOT NULL, item TEXT NOT NULL, path TEXT NOT NULL,
                      PRIMARY KEY (system, item));
CREATE TABLE raters (name TEXT PRIMARY KEY, seed INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE trials (rater TEXT NOT NULL, position INTEGER NOT NULL, item TEXT NOT NULL,
                     conditions TEXT NOT NULL, PRIMARY KEY (rater, position));
CREATE TABLE ratings (rater TEXT NOT NULL, position INTEGER NOT NULL, condition TEXT NOT NULL,
                      value REAL NOT NULL, answered TEXT NOT NULL,
                      PRIMARY KEY (rater, position, condition));
CREATE TABLE metrics (name TEXT PRIMARY KEY, value TEXT NOT NULL, computed TEXT NOT NULL);
"""


class StudyError(ValueError):
    """A study that cannot be created or opened; the message says why."""


@dataclass(frozen=True)
class Trial:
    """What a rater sees: ``conditions`` in presented order (names are for storage only)."""

    rater: str
    position: int
    item: str
    conditions: tuple[str, ...]
    paths: tuple[str, ...]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _stimuli(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise StudyError(f"{folder}: no such folder")
    files = {p.stem: p for p in sorted(folder.iterdir())
             if p.suffix.lower() in IMAGE_EXT | AUDIO_EXT}
    if not files:
        raise StudyError(f"{folder}: holds no images or audio files")
    return files


def check_stimulus(path: str | Path, decode_audio: bool = True) -> str:
    """Why ``path`` cannot be shown or played ("" when it decodes).

    Images are fully decoded with Pillow and sounds read with soundfile, so a truncated or
    corrupt file is caught here, not in front of a rater. ``decode_audio=False`` reads only
    a sound's header (quick enough for each trial on the UI thread; ``study create`` has
    decoded them all already).
    """
    path = Path(path)
    if not path.is_file():
        return f"{path}: the file is missing"
    try:
        if path.suffix.lower() in AUDIO_EXT:
            import soundfile as sf

            with sf.SoundFile(str(path)) as f:
                if f.frames == 0:
                    return f"{path}: the file holds no audio"
                if decode_audio:
                    f.read(frames=min(f.frames, 1 << 22), dtype="float32")
        else:
            from models.image.io import open_picture

            open_picture(path)
    except Exception as exc:  # any decoder failure means the rater would see nothing
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{path}: cannot be decoded ({text})"
    return ""


def make_anchor(src: Path, out: Path, cutoff: float = ANCHOR_CUTOFF_HZ) -> Path:
    """The MUSHRA low-pass anchor: the reference through an 8th-order Butterworth at 3.5 kHz
    (zero phase)."""
    import soundfile as sf
    from scipy.signal import butter, sosfiltfilt

    audio, sr = sf.read(str(src), dtype="float64", always_2d=True)
    if cutoff >= sr / 2:
        low = audio
    else:
        sos = butter(8, cutoff, btype="low", fs=sr, output="sos")
        low = sosfiltfilt(sos, audio, axis=0)
    from models.files import write_with

    out.parent.mkdir(parents=True, exist_ok=True)
    return write_with(out, lambda tmp: sf.write(str(tmp), low.astype(np.float32), sr,
                                                format="WAV"))


class Study:
    """One study file. Open with :meth:`open` or make one with :meth:`create`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        self.kind = meta["kind"]
        self.study_id = meta["study_id"]
        self.title = meta.get("title", "")
        self.reference = meta.get("reference", "")
        # A rating of sound counts only after every sample of the trial played (webMUSHRA's
        # rule; on unless the study was made without it).
        self.must_play = meta.get("must_play", "1") != "0"

    # -- lifetime -------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=10, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @classmethod
    def create(cls, path: str | Path, kind: str, systems: dict[str, str | Path],
               title: str = "", reference: str = "", must_play: bool = True) -> Study:
        """Make a study from system folders; items are the stems every system has."""
        path = Path(path)
        if kind not in KINDS:
            raise StudyError(f"unknown test type '{kind}' (one of {', '.join(KINDS)})")
        if path.exists():
            raise StudyError(f"{path}: exists already; choose a new file")
        if len(systems) < (2 if kind in ("ab", "mushra") else 1):
            raise StudyError(f"a {kind} study needs at least two systems")
        if any(n.startswith("__") for n in systems):
            raise StudyError("system names may not start with '__'")
        files = {name: _stimuli(Path(folder)) for name, folder in systems.items()}
        items = sorted(set.intersection(*(set(f) for f in files.values())))
        if not items:
            raise StudyError("the systems share no item names (file names without extension)")
        audio = {p.suffix.lower() in AUDIO_EXT for f in files.values() for p in f.values()}
        if len(audio) > 1:
            raise StudyError("a study holds either images or audio, not both")
        bad = [why for f in files.values() for item in items if (why := check_stimulus(f[item]))]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise StudyError(f"{bad[0]}{more}; fix or remove it, nothing was written")
        if kind == "mushra":
            if audio != {True}:
                raise StudyError("MUSHRA is for audio; use mos or ab for images")
            if reference not in systems:
                raise StudyError("a MUSHRA study needs --reference NAME, one of its systems")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Built in a temporary file and renamed at the end: a failed create leaves nothing.
        tmp = path.with_name(path.name + ".creating")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        conn.executescript(_SCHEMA)
        with conn:
            conn.execute("BEGIN")
            meta = {"schema_version": str(SCHEMA_VERSION), "kind": kind, "title": title,
                    "study_id": uuid.uuid4().hex, "created": _now(), "reference": reference,
                    "media": "audio" if True in audio else "image",
                    "must_play": "1" if must_play else "0"}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            for name, folder in systems.items():
                conn.execute("INSERT INTO systems VALUES (?, ?)",
                             (name, str(Path(folder).resolve())))
                for item in items:
                    conn.execute("INSERT INTO stimuli VALUES (?, ?, ?)",
                                 (name, item, str(files[name][item].resolve())))
            if kind == "mushra":
                anchors = path.with_name(path.stem + "-anchors")
                for item in items:
                    out = make_anchor(files[reference][item], anchors / f"{item}.wav")
                    conn.execute("INSERT INTO stimuli VALUES (?, ?, ?)",
                                 (ANCHOR, item, str(out.resolve())))
                    conn.execute("INSERT INTO stimuli VALUES (?, ?, ?)",
                                 (REF, item, str(files[reference][item].resolve())))
        conn.close()
        tmp.replace(path)
        return cls(path, cls._connect(path))

    @classmethod
    def open(cls, path: str | Path) -> Study:
        """Open a study, refusing damaged files and files from a newer version."""
        path = Path(path)
        if not path.is_file():
            raise StudyError(f"{path}: no such study file")
        try:
            conn = cls._connect(path)
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise StudyError(f"{path}: the study file is damaged ({ok})")
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{path}: not a study file or damaged ({exc})") from None
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            conn.close()
            raise StudyError(f"{path}: made by a newer Latent Studio (study format {version}, "
                             f"this one reads {SCHEMA_VERSION}); it was left untouched")
        if meta.get("kind") not in KINDS or "study_id" not in meta:
            conn.close()
            raise StudyError(f"{path}: not a Latent Studio study")
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    # -- content --------------------------------------------------------------------------

    @property
    def media(self) -> str:
        return self.conn.execute("SELECT value FROM meta WHERE key='media'").fetchone()[0]

    @property
    def systems(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM systems ORDER BY name")]

    @property
    def items(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT item FROM stimuli ORDER BY item")]

    def stimulus(self, system: str, item: str) -> str:
        row = self.conn.execute("SELECT path FROM stimuli WHERE system=? AND item=?",
                                (system, item)).fetchone()
        if row is None:
            raise StudyError(f"no stimulus for {system}/{item}")
        p = Path(row[0])
        return str(p if p.is_absolute() else (self.path.parent / p))

    @property
    def raters(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM raters ORDER BY created")]

    # -- rating ---------------------------------------------------------------------------

    def _plan(self, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
        items, systems = self.items, self.systems
        if self.kind == "mos":
            plan = [(i, [s]) for i in items for s in systems]
        elif self.kind == "ab":
            plan = []
            for i in items:
                for a, b in itertools.combinations(systems, 2):
                    plan.append((i, [a, b] if rng.random() < 0.5 else [b, a]))
        else:
            plan = []
            tested = [s for s in systems if s != self.reference]
            for i in items:
                conds = tested + [REF, ANCHOR]
                plan.append((i, [conds[k] for k in rng.permutation(len(conds))]))
        return [plan[k] for k in rng.permutation(len(plan))]

    def start_rater(self, name: str, seed: int | None = None) -> str:
        """Register a rater (or return an existing one, to resume) with a seeded order."""
        name = name.strip()
        if not name:
            raise StudyError("a rater needs a name")
        if name in self.raters:
            return name
        seed = int(seed if seed is not None else np.random.SeedSequence().entropy % 2**31)
        plan = self._plan(np.random.default_rng(seed))
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT INTO raters VALUES (?, ?, ?)", (name, seed, _now()))
            self.conn.executemany("INSERT INTO trials VALUES (?, ?, ?, ?)",
                                  [(name, k, item, json.dumps(conds))
                                   for k, (item, conds) in enumerate(plan)])
        return name

    def seed_of(self, rater: str) -> int:
        return int(self.conn.execute("SELECT seed FROM raters WHERE name=?",
                                     (rater,)).fetchone()[0])

    def _trial(self, rater: str, position: int, item: str, conds: str) -> Trial:
        c = tuple(json.loads(conds))
        return Trial(rater, position, item, c, tuple(self.stimulus(s, item) for s in c))

    def next_trial(self, rater: str, skip: set[int] | frozenset[int] = frozenset()
                   ) -> Trial | None:
        """The first trial the rater has not answered and that is not in ``skip`` (positions
        passed over because a stimulus could not be shown), or None when done."""
        rows = self.conn.execute(
            "SELECT t.position, t.item, t.conditions FROM trials t WHERE t.rater=? AND NOT "
            "EXISTS (SELECT 1 FROM ratings r WHERE r.rater=t.rater AND r.position=t.position)"
            " ORDER BY t.position", (rater,))
        for row in rows:
            if row[0] not in skip:
                return self._trial(rater, *row)
        return None

    def trial(self, rater: str, position: int) -> Trial:
        row = self.conn.execute("SELECT position, item, conditions FROM trials "
                                "WHERE rater=? AND position=?", (rater, position)).fetchone()
        if row is None:
            raise StudyError(f"rater {rater} has no trial {position}")
        return self._trial(rater, *row)

    def previous_rated(self, rater: str, before: int | None) -> Trial | None:
        """The rater's rated trial just before position ``before`` (None: the last rated),
        to go back to and rate again; None when there is none."""
        row = self.conn.execute(
            "SELECT t.position, t.item, t.conditions FROM trials t WHERE t.rater=? AND "
            "t.position < ? AND EXISTS (SELECT 1 FROM ratings r WHERE r.rater=t.rater AND "
            "r.position=t.position) ORDER BY t.position DESC LIMIT 1",
            (rater, 1 << 62 if before is None else before)).fetchone()
        return None if row is None else self._trial(rater, *row)

    def answer_of(self, trial: Trial) -> tuple[bool, Any]:
        """(rated?, the answer as :meth:`rate` took it) for ``trial``."""
        rows = dict(self.conn.execute("SELECT condition, value FROM ratings WHERE rater=? AND "
                                      "position=?", (trial.rater, trial.position)).fetchall())
        if not rows:
            return False, None
        if self.kind == "mos":
            return True, int(next(iter(rows.values())))
        if self.kind == "ab":
            cond = next(iter(rows))
            return True, None if cond == TIE else trial.conditions.index(cond)
        return True, [int(rows.get(c, 0)) for c in trial.conditions]

    def progress(self, rater: str) -> tuple[int, int]:
        total = self.conn.execute("SELECT COUNT(*) FROM trials WHERE rater=?",
                                  (rater,)).fetchone()[0]
        done = self.conn.execute("SELECT COUNT(DISTINCT position) FROM ratings WHERE rater=?",
                                 (rater,)).fetchone()[0]
        return int(done), int(total)

    def rate(self, trial: Trial, answer: Any) -> None:
        """Store one answer and commit it at once.

        MOS: an int 1..5. A/B: 0 (first shown), 1 (second shown) or None (no preference).
        MUSHRA: a list of 0..100 scores in presented order.
        """
        if self.kind == "mos":
            if answer not in ACR_LABELS:
                raise StudyError(f"a MOS answer is 1..5, not {answer!r}")
            rows = [(trial.conditions[0], float(answer))]
        elif self.kind == "ab":
            if answer not in (0, 1, None):
                raise StudyError(f"an A/B answer is 0, 1 or None, not {answer!r}")
            rows = [(TIE if answer is None else trial.conditions[answer], 1.0)]
        else:
            scores = list(answer)
            if len(scores) != len(trial.conditions) or not all(0 <= s <= 100 for s in scores):
                raise StudyError("a MUSHRA answer is one 0..100 score per condition")
            rows = list(zip(trial.conditions, map(float, scores)))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM ratings WHERE rater=? AND position=?",
                              (trial.rater, trial.position))
            self.conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?, ?)",
                                  [(trial.rater, trial.position, c, v, _now()) for c, v in rows])

    # -- results --------------------------------------------------------------------------

    def rating_rows(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT r.rater, r.position, t.item, r.condition, r.value, r.answered, t.conditions "
            "FROM ratings r JOIN trials t ON t.rater=r.rater AND t.position=r.position "
            "ORDER BY r.rater, r.position, r.condition")
        return [dict(rater=a, position=b, item=c, condition=d, value=e, answered=f,
                     shown=json.loads(g)) for a, b, c, d, e, f, g in rows]

    def results(self) -> dict[str, Any]:
        rows = self.rating_rows()
        out: dict[str, Any] = {"kind": self.kind, "title": self.title,
                               "raters": len({r["rater"] for r in rows}),
                               "ratings": len(rows), "systems": self.systems}
        if self.kind == "mos":
            scores = {s: [r["value"] for r in rows if r["condition"] == s] for s in self.systems}
            out["mos"] = {s: _ci_json(stats.mean_ci(v)) for s, v in scores.items()}
            out["pairwise"] = [_pair_json(p) for p in stats.pairwise_mann_whitney(scores)]
        elif self.kind == "ab":
            prefs = []
            for a, b in itertools.combinations(self.systems, 2):
                trials = [r for r in rows if set(r["shown"]) == {a, b}]
                wa = sum(r["condition"] == a for r in trials)
                wb = sum(r["condition"] == b for r in trials)
                p = stats.preference(a, b, wa, wb, len(trials) - wa - wb)
                prefs.append({"a": a, "b": b, "wins_a": wa, "wins_b": wb, "ties": p.ties,
                              "share_a": p.share_a, "ci95": [p.low, p.high], "p": p.p})
            out["preferences"] = prefs
        else:
            ref = {}
            for r in rows:
                if r["condition"] == REF:
                    ref.setdefault(r["rater"], []).append(r["value"])
            keep = stats.mushra_screen(ref)
            out["excluded_raters"] = sorted(k for k, v in keep.items() if not v)
            tested = [s for s in self.systems if s != self.reference]
            scores = {c: [r["value"] for r in rows if r["condition"] == c
                          and keep.get(r["rater"], True)] for c in tested + [REF, ANCHOR]}
            out["mushra"] = {c: _box_json(stats.box_stats(v)) for c, v in scores.items() if v}
            out["pairwise"] = [_pair_json(p) for p in stats.pairwise_mann_whitney(
                {s: scores[s] for s in tested})]
        out["metrics"] = self.metrics()
        return out

    def write_csv(self, path: str | Path) -> Path:
        """Every rating, one a row, written whole or not at all (a temporary name renamed)."""
        from models.files import write_with

        rows = self.rating_rows()
        seeds = {r: self.seed_of(r) for r in self.raters}

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["rater", "seed", "position", "item", "condition", "value",
                            "answered"])
                for r in rows:
                    w.writerow([r["rater"], seeds[r["rater"]], r["position"], r["item"],
                                r["condition"], r["value"], r["answered"]])

        return write_with(path, write)

    # -- objective figures saved with the study -------------------------------------------

    def save_metric(self, name: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?)",
                              (name, json.dumps(value), _now()))

    def metrics(self) -> dict[str, Any]:
        return {n: json.loads(v) for n, v in self.conn.execute("SELECT name, value FROM metrics")}

    # -- sharing --------------------------------------------------------------------------

    def export_bundle(self, out: str | Path) -> Path:
        """A zip with the study (no ratings) and every stimulus, to rate on another machine."""
        out = Path(out)
        tmp = out.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        dst = sqlite3.connect(str(tmp))
        self.conn.backup(dst)
        files = {}
        with dst:
            dst.execute("DELETE FROM ratings")
            dst.execute("DELETE FROM trials")
            dst.execute("DELETE FROM raters")
            for system, item, p in dst.execute("SELECT system, item, path FROM stimuli"
                                               ).fetchall():
                arc = f"stimuli/{system}/{item}{Path(p).suffix}"
                files[arc] = self.stimulus(system, item)
                dst.execute("UPDATE stimuli SET path=? WHERE system=? AND item=?",
                            (arc, system, item))
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.close()
        from models.files import write_with

        def write(part: Path) -> None:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(tmp, "study.db")
                for arc, src in files.items():
                    z.write(src, arc)

        try:
            return write_with(out, write)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def import_bundle(cls, bundle: str | Path, folder: str | Path) -> Study:
        folder = Path(folder)
        try:
            with zipfile.ZipFile(bundle) as z:
                bad = [n for n in z.namelist() if n.startswith("/") or ".." in Path(n).parts]
                if bad or "study.db" not in z.namelist():
                    raise StudyError(f"{bundle}: not a study bundle")
                z.extractall(folder)
        except zipfile.BadZipFile:
            raise StudyError(f"{bundle}: not a study bundle (not a zip file)") from None
        return cls.open(folder / "study.db")

    def merge(self, other_path: str | Path) -> list[str]:
        """Add the raters, trials and ratings of another copy of this study; a rater whose
        name is taken is renamed. Returns the names added."""
        other = Study.open(other_path)
        try:
            if other.study_id != self.study_id:
                raise StudyError(f"{other_path}: a different study (ids differ)")
            added = []
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                for name, seed, created in other.conn.execute("SELECT * FROM raters"):
                    new, k = name, 2
                    while self.conn.execute("SELECT 1 FROM raters WHERE name=?",
                                            (new,)).fetchone():
                        new, k = f"{name} ({k})", k + 1
                    self.conn.execute("INSERT INTO raters VALUES (?, ?, ?)", (new, seed, created))
                    for pos, item, conds in other.conn.execute(
                            "SELECT position, item, conditions FROM trials WHERE rater=?",
                            (name,)):
                        self.conn.execute("INSERT INTO trials VALUES (?, ?, ?, ?)",
                                          (new, pos, item, conds))
                    for pos, cond, value, answered in other.conn.execute(
                            "SELECT position, condition, value, answered FROM ratings "
                            "WHERE rater=?", (name,)):
                        self.conn.execute("INSERT INTO ratings VALUES (?, ?, ?, ?, ?)",
                                          (new, pos, cond, value, answered))
                    added.append(new)
            return added
        finally:
            other.close()


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (an sd or interval of one rating) as None, so
    the JSON written is JSON every reader takes (json.dumps would write NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _ci_json(ci: stats.MeanCI) -> dict[str, float]:
    return {"mean": ci.mean, "ci95": [ci.low, ci.high], "sd": ci.sd, "n": ci.n}


def _pair_json(p: stats.PairTest) -> dict[str, Any]:
    return {"a": p.a, "b": p.b, "u": p.statistic, "p": p.p, "p_holm": p.p_holm,
            "significant": p.significant}


def _box_json(b: stats.BoxStats) -> dict[str, Any]:
    return {"median": b.median, "q1": b.q1, "q3": b.q3, "whisker_low": b.low,
            "whisker_high": b.high, **_ci_json(b.ci)}
