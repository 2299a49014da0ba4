import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from models.eval.study import ANCHOR, REF, Study, StudyError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image_systems(tmp_path):
    out = {}
    for name, colour in (("good", 220), ("bad", 40), ("mid", 120)):
        d = tmp_path / name
        d.mkdir()
        for i in range(4):
            Image.new("RGB", (16, 16), (colour, i * 30, 0)).save(d / f"item{i}.png")
        out[name] = d
    (out["good"] / "extra.png").write_bytes((out["good"] / "item0.png").read_bytes())
    return out


def test_mos_study_is_blind_seeded_and_resumable(tmp_path, image_systems):
    s = Study.create(tmp_path / "s.db", "mos", image_systems)
    assert s.items == ["item0", "item1", "item2", "item3"]  # only shared stems
    a = s.start_rater("ann", seed=11)
    order = [s.next_trial(a)]
    s.rate(order[0], 4)
    s.close()
    again = Study.open(tmp_path / "s.db")
    assert again.progress("ann") == (1, 12)
    assert again.start_rater("ann") == "ann" and again.seed_of("ann") == 11
    nxt = again.next_trial("ann")
    assert nxt.position == 1
    # Same seed, same order for a second study copy.
    other = Study.create(tmp_path / "t.db", "mos", image_systems)
    other.start_rater("ann", seed=11)
    assert [other.trial("ann", k).paths for k in range(12)] == \
        [again.trial("ann", k).paths for k in range(12)]
    with pytest.raises(StudyError, match="1..5"):
        again.rate(nxt, 6)


def test_ab_results_count_wins_by_system_not_side(tmp_path, image_systems):
    s = Study.create(tmp_path / "ab.db", "ab", {k: image_systems[k] for k in ("good", "bad")})
    r = s.start_rater("bo", seed=1)
    sides = []
    while (t := s.next_trial(r)) is not None:
        sides.append(t.conditions[0])
        s.rate(t, t.conditions.index("good") if t.item != "item3" else None)
    assert set(sides) == {"good", "bad"}  # sides are randomised
    (pref,) = s.results()["preferences"]
    assert (pref["a"], pref["wins_a"], pref["wins_b"], pref["ties"]) == ("bad", 0, 3, 1)


def test_mushra_has_hidden_reference_anchor_and_screening(tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    folders = {}
    for name in ("ref", "codec"):
        d = tmp_path / name
        d.mkdir()
        for i in range(3):
            x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)
            sf.write(d / f"u{i}.wav", x.astype(np.float32), sr)
        folders[name] = d
    with pytest.raises(StudyError, match="--reference"):
        Study.create(tmp_path / "bad.db", "mushra", folders)
    s = Study.create(tmp_path / "m.db", "mushra", folders, reference="ref")
    anchor, _ = sf.read(s.stimulus(ANCHOR, "u0"))
    spec = np.abs(np.fft.rfft(anchor))
    freqs = np.fft.rfftfreq(len(anchor), 1 / sr)
    assert spec[np.argmin(abs(freqs - 6000))] < 1e-3 * spec[np.argmin(abs(freqs - 440))]
    for rater, ref_score in (("careful", 100), ("careless", 50)):
        r = s.start_rater(rater, seed=3)
        while (tr := s.next_trial(r)) is not None:
            assert set(tr.conditions) == {"codec", REF, ANCHOR}
            s.rate(tr, [ref_score if c == REF else 20 if c == ANCHOR else 70
                        for c in tr.conditions])
    res = s.results()
    assert res["excluded_raters"] == ["careless"]
    assert res["mushra"][REF]["median"] == 100 and res["mushra"]["codec"]["n"] == 3


def test_damaged_and_newer_files_are_refused_untouched(tmp_path, image_systems):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StudyError, match="not a study file or damaged"):
        Study.open(junk)
    s = Study.create(tmp_path / "n.db", "mos", image_systems)
    s.close()
    conn = sqlite3.connect(tmp_path / "n.db")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    before = (tmp_path / "n.db").read_bytes()
    with pytest.raises(StudyError, match="newer Latent Studio"):
        Study.open(tmp_path / "n.db")
    assert (tmp_path / "n.db").read_bytes() == before
    with pytest.raises(StudyError, match="exists already"):
        Study.create(tmp_path / "n.db", "mos", image_systems)


def test_bundle_rate_elsewhere_and_merge(tmp_path, image_systems):
    s = Study.create(tmp_path / "main.db", "mos", image_systems)
    r = s.start_rater("ann", seed=1)
    s.rate(s.next_trial(r), 5)
    s.export_bundle(tmp_path / "b.zip")
    remote = Study.import_bundle(tmp_path / "b.zip", tmp_path / "remote")
    assert remote.raters == [] and Path(remote.stimulus("good", "item0")).is_file()
    r2 = remote.start_rater("ann", seed=2)  # same name on another machine
    while (t := remote.next_trial(r2)) is not None:
        remote.rate(t, 3)
    remote.close()
    assert s.merge(tmp_path / "remote" / "study.db") == ["ann (2)"]
    assert s.results()["ratings"] == 13
    alien = Study.create(tmp_path / "alien.db", "mos", image_systems)
    alien.close()
    with pytest.raises(StudyError, match="different study"):
        s.merge(tmp_path / "alien.db")


RATER = """
import sys, time
from models.eval.study import Study
s = Study.open(sys.argv[1])
r = s.start_rater("kim", seed=5)
n = 0
while (t := s.next_trial(r)) is not None:
    s.rate(t, 1 + n % 5)
    n += 1
    print(n, flush=True)
    time.sleep(0.05)
"""


def test_a_killed_rating_process_loses_nothing(tmp_path, image_systems):
    s = Study.create(tmp_path / "k.db", "mos", image_systems)
    s.close()
    proc = subprocess.Popen([sys.executable, "-c", RATER, str(tmp_path / "k.db")], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen = 0
    while seen < 5:
        line = proc.stdout.readline()
        assert line, "the rating process ended early"
        seen = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    again = Study.open(tmp_path / "k.db")
    done, total = again.progress("kim")
    assert done >= seen and total == 12
    assert [r["value"] for r in again.rating_rows()][:5] == [1, 2, 3, 4, 5]
    # The rater resumes at the first unanswered trial.
    assert again.next_trial("kim").position == done


def test_create_refuses_a_stimulus_that_does_not_decode(tmp_path, image_systems):
    # A truncated PNG: the header reads, the pixels do not.
    good = (image_systems["bad"] / "item2.png").read_bytes()
    (image_systems["bad"] / "item2.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(StudyError, match=r"item2\.png: cannot be decoded.*nothing was written"):
        Study.create(tmp_path / "s.db", "mos", image_systems)
    assert not list(tmp_path.glob("s.db*"))


def test_next_trial_passes_over_skipped_positions(tmp_path, image_systems):
    s = Study.create(tmp_path / "s.db", "mos", image_systems)
    r = s.start_rater("ann", seed=2)
    first = s.next_trial(r)
    second = s.next_trial(r, skip={first.position})
    assert second.position != first.position
    assert s.progress(r) == (0, 12)      # skipping stores nothing
