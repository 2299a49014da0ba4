"""The panels' Qt-free states: driven without a window, their events tell the views."""

import numpy as np
import pytest

from models.audio.edits import FLOOR
from models.protocol import MelSettings
from studio.state import Events
from studio.state.latent import LatentState, Slot
from studio.state.spectral import SpectralState


def test_events_call_back_in_order_and_refuse_unknown_names():
    ev, seen = Events("a"), []
    ev.connect("a", lambda x: seen.append(("first", x)))
    ev.connect("a", lambda x: seen.append(("second", x)))
    ev.emit("a", 1)
    assert seen == [("first", 1), ("second", 1)]
    with pytest.raises(KeyError, match="no event 'b'"):
        ev.connect("b", print)


def test_spectral_state_edits_undo_and_result():
    st, seen = SpectralState(MelSettings()), []
    for name in ("clip", "mel", "result", "selection", "cursor", "listening"):
        st.events.connect(name, lambda *a, n=name: seen.append(n))
    mel0 = np.full((80, 50), -2.0, np.float32)
    st.set_clip((np.zeros(12800, np.float32), 16000), np.zeros(12800), mel0)
    assert st.frames == 50 and seen == ["clip"]
    st.push_op({"op": "delete", "rect": [10, 20, 0, 80]})
    assert seen[-1] == "mel" and st.dirty == (10, 20) and st.mel[0, 15] == pytest.approx(FLOOR)
    st.pop_op()
    assert np.array_equal(st.mel, mel0) and st.ops == []
    assert st.set_listening("B") == "A"                 # nothing vocoded yet
    st.set_result(np.ones(100, np.float32))
    assert st.result.size == 12800 and st.dirty is None and st.set_listening("B") == "B"
    st.set_selection(30, 10, 70, 90)                    # corners in any order, clipped
    assert st.selection == (10, 30, 70, 80)
    st.set_selection(5, 5.5, 0, 10)                     # under one frame: no selection
    assert st.selection is None
    st.set_cursor(999)
    assert st.cursor == 49
    snap = st.snapshot()
    st.set_clip((np.zeros(256, np.float32), 16000), np.zeros(256), mel0[:, :1])
    st.set_clip(snap.source, snap.original, snap.mel0, snap.settings, snap.ops, snap.result)
    assert st.frames == 50 and st.result is not None and st.listening == "A"


def test_latent_state_keeps_a_late_latent_only_for_its_own_slot():
    st, seen = LatentState(), []
    st.events.connect("latent", seen.append)
    first = Slot("random", "s1", seed=1)
    st.set_slot(0, first)
    st.set_slot(0, Slot("random", "s2", seed=2))        # replaced before its job finished
    assert not st.set_latent(0, first, np.zeros(4, np.float32)) and seen == []
    current = st.slots[0]
    assert st.set_latent(0, current, np.ones(4, np.float32)) and seen == [0]
    assert st.slots[0].latent is not None
    st.set_param("steps", 12)
    assert st.to_session()["steps"] == 12 and st.to_session()["slots"][0]["seed"] == 2
    with pytest.raises(KeyError, match="no parameter 'colour'"):
        st.set_param("colour", 3)


def test_evaluation_state_rates_only_what_was_shown(tmp_path):
    from PIL import Image

    from studio.state.evaluation import EvaluationState

    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / name / f"i{i}.png")
    from models.eval.study import Study

    st, trials = EvaluationState(), []
    st.events.connect("trial", trials.append)
    st.set_study(Study.create(tmp_path / "s.db", "mos", {"x": tmp_path / "x",
                                                         "y": tmp_path / "y"}))
    st.start("ann")
    first = st.advance()
    assert trials == [first] and not st.rate(4)        # not on screen yet: refused
    assert st.skip() and st.advance() != first         # unshowable: skipped, never rated
    st.shown()
    assert not st.skip() and st.rate(4)
    assert [r["position"] for r in st.study.rating_rows()] != [first.position]
    assert st.study.progress("ann") == (1, 4)
    st.close()
