"""The speech corpus builder's real-recording part: joining clips, the split by speaker,
the corpus card."""

import numpy as np

from models.data import speech


def test_short_clips_join_into_utterances_with_pauses():
    clips = [np.full(speech.RATE, i + 1, np.float32) for i in range(10)]     # 1 s each
    out = speech.join_clips(clips, seconds=4.0, pause=0.15)
    gap = int(0.15 * speech.RATE)
    assert [u.size for u in out] == [3 * speech.RATE + 2 * gap] * 3 + [speech.RATE]
    assert out[0][speech.RATE: speech.RATE + gap].max() == 0            # the pause
    assert out[1][0] == 4 and out[3][0] == 10                           # order kept
    long = speech.join_clips([np.ones(6 * speech.RATE, np.float32)], seconds=4.0)
    assert len(long) == 1 and long[0].size == 6 * speech.RATE


def test_trim_keeps_the_speech_and_a_little_silence():
    a = np.zeros(speech.RATE, np.float32)
    a[4000:6000] = 0.5
    t = speech._trim(a)
    pad = speech.RATE // 20
    assert t.size == 2000 + 2 * pad and t.max() == 0.5


def test_the_split_is_by_speaker():
    recs = speech.real_recordings()             # empty where the packages are not installed
    by = {}
    for r in recs:
        by.setdefault(r["speaker"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by.values())
    for speaker, s in by.items():
        assert s == ({"test"} if speaker in speech.TEST_REAL else {"train"})


def test_the_corpus_card_counts_minutes_per_split_and_kind():
    manifest = [{"kind": "real", "split": "train"}, {"kind": "real", "split": "test"},
                {"kind": "mbrola", "split": "train"}, {"kind": "formant", "split": "test"}]
    lengths = np.array([60, 120, 30, 30]) * speech.RATE
    card = speech.corpus_card(manifest, lengths, {"klettres-fr": {"split": "test"}}, 0)
    assert card["minutes_by_kind"]["train"] == {"real": 1.0, "mbrola": 0.5, "formant": 0.0}
    assert card["minutes"] == {"train": 1.5, "test": 2.5}
    assert card["utterances"] == {"train": 2, "test": 2}
    assert card["sources"]["klettres"]["licence"] == "GPL-2+"
    assert card["sources"]["asterisk"]["licence"] == "CC-BY-SA-3.0"
    assert "non-commercial" in card["sources"]["mbrola"]["licence"]
