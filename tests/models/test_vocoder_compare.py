"""Vocoders compared on held-out voices (models/eval/vocoders.py; groundwork for #13)."""

from pathlib import Path

import numpy as np

from models.audio.griffinlim import GriffinLimBackend
from models.audio.io import read_audio
from models.eval import vocoders as vc
from models.protocol import MelSettings
from tests.models.test_audio import DATA


def test_test_clips_pick_real_test_speakers_only():
    clips = [np.ones(16000 * (i + 1), np.float32) for i in range(5)]
    manifest = [{"voice": "a", "kind": "real", "split": "test"},
                {"voice": "a", "kind": "real", "split": "test"},
                {"voice": "b", "kind": "real", "split": "train"},
                {"voice": "c", "kind": "mbrola", "split": "test"},
                {"voice": "d", "kind": "real", "split": "test"}]
    got = vc.test_clips(clips, manifest, per_voice=1, seconds=1.5)
    assert sorted(got) == ["a", "d"] and len(got["a"]) == 1
    assert got["d"][0].size == 24000


def test_compare_writes_a_study_ready_folder_and_figures(tmp_path):
    mel = MelSettings()
    x = read_audio(DATA / "unseen-us3.flac", mel.sample_rate).audio[: 3 * mel.sample_rate]
    systems = {"gl8": GriffinLimBackend(mel, iters=8), "gl32": GriffinLimBackend(mel, iters=32)}
    res = vc.compare(systems, {"us3": [x]}, mel, tmp_path)
    for name in ("original", "gl8", "gl32"):
        assert (tmp_path / name / "us3-0.wav").is_file()
    assert res["gl32"]["mean"]["mrstft"] < res["gl8"]["mean"]["mrstft"]
    assert set(res["gl8"]["mean"]) == {"mrstft", "mel", "sig", "bak", "ovrl"}
    assert res["original"]["mean"]["ovrl"] > res["gl8"]["mean"]["ovrl"]
    assert res["gl8"]["per_voice"]["us3"] == res["gl8"]["mean"]


def test_listening_study_is_a_blind_mushra_bundle_without_ratings(tmp_path):
    from models.eval.study import Study

    mel = MelSettings()
    x = read_audio(DATA / "unseen-us3.flac", mel.sample_rate).audio[: 2 * mel.sample_rate]
    systems = {"gl4": GriffinLimBackend(mel, iters=4), "gl32": GriffinLimBackend(mel, iters=32)}
    vc.compare(systems, {"us3": [x, x[::-1].copy()], "fr": [x * 0.5]}, mel, tmp_path / "rt",
               dnsmos=False)
    bundle = vc.listening_study(tmp_path / "rt", ["gl4", "gl32"], tmp_path / "s.db",
                                tmp_path / "s.zip", per_voice=1)
    study = Study.import_bundle(bundle, tmp_path / "rater")
    try:
        assert study.kind == "mushra"
        assert set(study.systems) == {"original", "gl4", "gl32"}
        assert sorted(study.items) == ["fr-0", "us3-0"]          # one clip per speaker
        path = Path(study.stimulus("gl32", "us3-0"))
        assert path.suffix == ".flac" and path.is_file()
        assert read_audio(path, mel.sample_rate).audio.size == x.size
        assert study.rating_rows() == [] and study.raters == []
    finally:
        study.close()
