import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.eval.study import Study


@pytest.fixture
def systems(tmp_path):
    out = {}
    for name, colour in (("real", 230), ("fake", 30)):
        d = tmp_path / name
        d.mkdir()
        for i in range(3):
            Image.new("RGB", (32, 32), (colour, 80 * i, 10)).save(d / f"im{i}.png")
        out[name] = str(d)
    return out


@pytest.fixture
def panel(window):
    return window.show_panel("evaluation")


def test_mos_test_taken_in_the_panel(panel, systems, tmp_path, qtbot):
    assert panel.create_study(str(tmp_path / "mos.db"), "mos", systems, title="t")
    panel.rater_edit.setText("rae")
    panel.start_button.click()
    assert panel.stage.currentWidget() is panel.mos_page
    assert "trial 1 of 6" in panel.progress_label.text()
    # The picture shown is the trial's stimulus; no system name is on screen.
    t = panel.trial
    assert np.array_equal(panel.mos_view.image(),
                          np.asarray(Image.open(t.paths[0]).convert("RGB")))
    from PySide6.QtWidgets import QAbstractButton, QLabel

    page = panel.tabs.widget(0)
    shown = [w.text() for w in page.findChildren(QLabel) + page.findChildren(QAbstractButton)
             if w.isVisibleTo(page)]
    assert shown and not any("real" in s or "fake" in s for s in shown)
    answers = {}
    while panel.trial is not None:
        t = panel.trial
        score = 5 if t.conditions[0] == "real" else 2
        answers[(t.item, t.conditions[0])] = score
        panel.mos_buttons[score].click()
    assert panel.stage.currentWidget() is panel.done_page
    res = panel.show_results()
    assert res["mos"]["real"]["mean"] == 5 and res["mos"]["fake"]["mean"] == 2
    assert panel.results_table.rowCount() == 2  # two systems...
    assert panel.pairs_table.rowCount() == 1    # ...and one pairwise test, in its own columns
    header = [panel.pairs_table.horizontalHeaderItem(c).text() for c in range(5)]
    row = [panel.pairs_table.item(0, c).text() for c in range(5)]
    assert header[1] == "test" and row[1].startswith("Mann–Whitney")
    assert float(row[header.index("p")]) < 1
    # Every rating is already on disk: a fresh connection sees them all.
    assert Study.open(tmp_path / "mos.db").progress("rae") == (6, 6)


def test_ab_test_with_keyboardless_buttons_and_ties(panel, systems, tmp_path):
    assert panel.create_study(str(tmp_path / "ab.db"), "ab", systems)
    panel.start("sam")
    assert panel.stage.currentWidget() is panel.ab_page
    n = 0
    while panel.trial is not None:
        first_is_real = panel.trial.conditions[0] == "real"
        if n == 0:
            panel.ab_buttons[1].click()  # no preference
        else:
            panel.ab_buttons[0 if first_is_real else 2].click()
        n += 1
    (pref,) = panel.show_results()["preferences"]
    assert (pref["a"], pref["wins_a"], pref["wins_b"], pref["ties"]) == ("fake", 0, 2, 1)


def test_resume_where_the_rater_stopped(panel, systems, tmp_path, qtbot):
    panel.create_study(str(tmp_path / "r.db"), "mos", systems)
    panel.start("ivy")
    panel.answer(3)
    panel.answer(4)
    path = panel.study.path
    panel.open_file(str(path))  # reopen, as after a restart
    panel.start("ivy")
    assert panel.trial.position == 2 and "trial 3 of 6" in panel.progress_label.text()


def test_bad_study_files_get_a_message(panel, tmp_path):
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    junk = tmp_path / "junk.db"
    junk.write_text("nope" * 500)
    panel.open_file(str(junk))
    assert errors and "not a study file" in errors[-1] and panel.study is None
    assert not panel.create_study(str(tmp_path / "x.db"), "mos", {"a": str(tmp_path / "none")})
    assert "no such folder" in errors[-1]


def test_metrics_run_in_the_background_and_are_saved(panel, systems, tmp_path, qtbot):
    panel.create_study(str(tmp_path / "m.db"), "mos", systems)
    panel.dir_a_edit.setText(systems["real"])
    panel.dir_b_edit.setText(systems["fake"])
    panel.features_combo.setCurrentText("inception")
    panel.run_metric("fid")
    assert panel.ctx.jobs.wait_until_idle(120)
    result = panel.metric_results[-1]
    assert result["metric"] == "fid" and result["fid"] > 0
    assert any(k.startswith("fid") for k in panel.study.metrics())
    # Shown as a table row (the JSON one tab away), with the warning that 3 images mean
    # nothing, and the warning in the status bar too.
    row = [panel.metrics_table.item(0, c).text() for c in range(panel.metrics_table.columnCount())]
    assert row[0] == "FID" and row[3] == "3 / 3" and row[4] == f"{result['fid']:.3f}"
    assert "mean nothing" in row[5] and "mean nothing" in result["warning"]
    assert json.loads(panel.metric_detail.json_view.toPlainText())["fid"] == result["fid"]
    assert ("fid", f"{result['fid']:.4g}") in panel.metric_detail.rows()
    assert "mean nothing" in panel.window().status.error_label.text()


def test_screenshot_of_results(panel, systems, tmp_path):
    panel.create_study(str(tmp_path / "s.db"), "mos", systems)
    panel.start("zed")
    while panel.trial is not None:
        panel.answer(4)
    panel.tabs.setCurrentIndex(1)
    img = panel.window().grab().toImage()
    assert img.save(str(tmp_path / "results.png")) and img.width() > 600


def test_latent_samples_are_sent_to_evaluation(panel, tmp_path):
    win = panel.window()
    latent = win.panels["latent"]
    latent.send_samples(n=6, folder=str(tmp_path / "sent"))
    win.jobs.wait_until_idle(20)
    assert win.tabs.currentWidget() is panel
    assert panel.dir_a_edit.text() == str(tmp_path / "sent")
    assert len(list((tmp_path / "sent").glob("*.png"))) == 6


def test_mushra_trial_with_sliders(panel, tmp_path):
    import soundfile as sf

    sr = 16000
    tone = (0.2 * np.sin(2 * np.pi * 300 * np.arange(sr // 2) / sr)).astype(np.float32)
    folders = {}
    for name in ("ref", "codec", "other"):
        (tmp_path / name).mkdir()
        for i in range(2):
            sf.write(tmp_path / name / f"u{i}.wav", tone, sr)
        folders[name] = str(tmp_path / name)
    # Made without the play-before-rating rule (tested with a real device below).
    assert panel.create_study(str(tmp_path / "mu.db"), "mushra", folders, reference="ref",
                              must_play=False)
    panel.start("mo")
    assert panel.stage.currentWidget() is panel.mushra_page
    assert len(panel.mushra_sliders) == 4  # codec, other, hidden reference, anchor
    assert all(not b.text().strip("▶ ").isalpha() for b in panel.mushra_players)  # blind
    while panel.trial is not None:
        for slider, cond in zip(panel.mushra_sliders, panel.trial.conditions):
            slider.setValue({"__reference__": 100, "__anchor__": 10}.get(cond, 60))
        panel.mushra_next.click()
    res = panel.show_results()
    assert res["mushra"]["codec"]["median"] == 60 and res["excluded_raters"] == []


def test_an_unreadable_stimulus_is_shown_as_such_and_never_rated(panel, systems, tmp_path):
    assert panel.create_study(str(tmp_path / "u.db"), "mos", systems)
    panel.start("una")
    first = panel.trial
    broken = panel.study.next_trial("una", skip={first.position})
    Path(broken.paths[0]).write_bytes(b"\x89PNG\r\n\x1a\n broken")   # damaged after create
    panel.answer(5)                                  # trial 1 is rated and on disk
    # The damaged trial is said to be unreadable: trial 1's picture is not on screen.
    assert panel.trial == broken and panel.stage.currentWidget() is panel.broken_page
    assert "cannot be shown" in panel.broken_label.text()
    status = panel.window().status
    assert "could not be shown" in status.error_label.text()
    assert "not an image file" in status._details          # the file, behind Details
    for shown in (panel.broken_label.text(), status.error_label.text()):
        assert "real" not in shown and "fake" not in shown   # no system name: still blind
    panel.answer(2)                                  # a click or a key does nothing here
    panel._on_score_key(2)
    assert panel.study.progress("una") == (1, 6)
    assert [r["position"] for r in panel.study.rating_rows()] == [first.position]
    panel.skip_button.click()
    assert panel.trial != broken and panel.stage.currentWidget() is panel.mos_page
    while panel.trial is not None:
        panel.answer(3)
    assert "could not be shown" in panel.done_page.text()
    assert panel.study.progress("una") == (5, 6)


def test_keys_rate_from_the_first_trial_and_not_the_name(panel, systems, tmp_path, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    win = panel.window()
    win.activateWindow()
    assert panel.create_study(str(tmp_path / "k.db"), "mos", systems)
    panel.rater_edit.setFocus()
    qtbot.keyClicks(panel.rater_edit, "alice")
    qtbot.keyClick(panel.rater_edit, Qt.Key.Key_Return)
    assert panel.trial is not None and panel.rater == "alice"
    shown = panel.trial
    focus = QApplication.focusWidget() or panel.stage
    qtbot.keyClick(focus, Qt.Key.Key_3)
    assert panel.rater_edit.text() == "alice" and panel.study.raters == ["alice"]
    (row,) = panel.study.rating_rows()
    assert row["position"] == shown.position and row["value"] == 3
    # "Change rater" opens the name field again.
    panel.start_button.click()
    assert panel.rater_edit.isEnabled() and panel.rater == ""


def test_results_of_few_ratings_say_so_and_stay_on_the_scale(panel, systems, tmp_path):
    assert panel.create_study(str(tmp_path / "f.db"), "mos", systems)
    panel.start("fay")
    # The order is random: answer until one system has one rating and the other two or
    # more (always by the fourth answer of these six trials).
    counts = {"real": 0, "fake": 0}
    for score in (1, 5, 5, 5):
        counts[panel.trial.conditions[0]] += 1
        panel.answer(score)
        if min(counts.values()) == 1 and max(counts.values()) >= 2:
            break
    res = panel.show_results()
    assert any(m["n"] < 5 for m in res["mos"].values())
    assert not panel.results_note.isHidden() and "Too few ratings" in panel.results_note.text()
    ns = []
    for r in range(2):
        cells = [panel.results_table.item(r, c).text() for c in range(5)]
        ns.append(int(cells[4]))
        if ns[-1] < 2:                    # one rating: no spread and no interval, not "nan"
            assert cells[2] == cells[3] == "—"
            continue
        low, high = (float(v) for v in cells[2].strip(" *").strip("[]").split(","))
        assert 1.0 <= low <= high <= 5.0 and float(cells[3]) >= 0
    assert sorted(ns) == sorted(counts.values()) and min(ns) == 1
    left, right = panel.plot.getViewBox().viewRange()[1]
    assert (left, right) == pytest.approx((1, 5), abs=0.3)


def test_exports_get_the_extension_of_the_chosen_format():
    from studio.panels.base import with_suffix

    assert with_suffix("/tmp/ratings", ".csv") == "/tmp/ratings.csv"
    assert with_suffix("/tmp/ratings.CSV", ".csv") == "/tmp/ratings.CSV"
    assert with_suffix("/tmp/s.sqlite", ".db", (".db", ".sqlite")) == "/tmp/s.sqlite"
    assert with_suffix("", ".csv") == ""


def _tones(tmp_path, names, seconds=0.25):
    import soundfile as sf

    sr = 16000
    t = np.arange(int(sr * seconds)) / sr
    folders = {}
    for k, name in enumerate(names):
        (tmp_path / name).mkdir()
        for i in range(2):
            sf.write(tmp_path / name / f"u{i}.wav",
                     (0.2 * np.sin(2 * np.pi * (300 + 100 * k) * t)).astype(np.float32), sr)
        folders[name] = str(tmp_path / name)
    return folders


def test_a_sound_counts_only_after_it_played_and_the_rater_can_go_back(
        panel, tmp_path, qtbot, virtual_audio):
    folders = _tones(tmp_path, ("clean", "codec"))
    assert panel.create_study(str(tmp_path / "p.db"), "mos", folders)
    panel.start("pia")
    first = panel.trial
    assert not panel.mos_buttons[3].isEnabled() and "Play the sample" in panel.trial_note.text()
    assert not panel.back_button.isEnabled()           # nothing rated yet
    panel._on_score_key(3)                              # keys 1-5 straight away: refused
    panel.answer(3)
    assert panel.study.progress("pia") == (0, 4) and panel.trial is first
    assert "only after it played" in panel.trial_note.text()
    from studio import audio

    panel.mos_play.click()                              # stopped before its end: not heard
    audio.player().stop()
    qtbot.wait(400)
    assert not panel.mos_buttons[4].isEnabled()
    panel.mos_play.click()
    qtbot.waitUntil(lambda: panel.mos_buttons[4].isEnabled(), timeout=5000)
    assert panel.trial_note.text() == "Played to the end: rate it now."
    panel.mos_buttons[4].click()
    assert panel.study.progress("pia") == (1, 4) and panel.trial is not first
    note = panel.trial_note.text().splitlines()
    assert note[0] == "✓ Saved trial 1: 4 — Good" and "Play" in note[1]   # a confirmation
    assert not panel.mos_buttons[4].isEnabled()         # the next sample must play too
    # Back to the previous trial: its rating is shown and a new one replaces it.
    assert panel.back_button.isEnabled()
    panel.back_button.click()
    assert panel.trial.position == first.position
    assert "You rated this trial 4 — Good" in panel.trial_note.text()
    assert panel.mos_buttons[2].isEnabled()             # heard when it was rated
    panel.mos_buttons[2].click()
    assert panel.study.progress("pia") == (1, 4)
    assert [r["value"] for r in panel.study.rating_rows()] == [2.0]
    assert panel.trial.position != first.position       # on to the next unrated one
    # A study made without the rule rates at once.
    other = Study.create(tmp_path / "q.db", "mos", folders, must_play=False)
    panel.set_study(other)
    panel.start("pia")
    assert panel.mos_buttons[3].isEnabled()
    panel._on_score_key(3)
    assert other.progress("pia") == (1, 4)


def test_a_refused_new_study_keeps_the_dialog_and_what_was_typed(panel, systems, tmp_path):
    dlg = panel.new_study_dialog()
    typed = f"real={systems['real']}\nghost={tmp_path / 'nowhere'}"
    dlg.systems_edit.setPlainText(typed)
    dlg.type_combo.setCurrentText("ab")
    assert not dlg.submit(str(tmp_path / "n.db"))
    assert dlg.isVisible() and dlg.systems_edit.toPlainText() == typed
    assert dlg.problem_label.isVisible() and "nowhere" in dlg.problem_label.text()
    assert dlg.problem_label.wordWrap() and dlg.width() >= 560   # hints are not clipped
    dlg.systems_edit.setPlainText(f"real={systems['real']}\nfake={systems['fake']}")
    assert dlg.submit(str(tmp_path / "n.db"))
    assert not dlg.isVisible() and panel.study.kind == "ab"
    assert "Open a study" not in panel.idle_page.text()    # one is open


def test_the_metrics_table_shows_the_open_studys_results(panel, systems, tmp_path):
    assert panel.create_study(str(tmp_path / "a.db"), "mos", systems)
    panel.doc.add_metric({"metric": "fid", "fid": 12.5, "dir_a": "x", "dir_b": "y",
                          "n_a": 3, "n_b": 3, "features": "inception"})
    panel._show_metrics()
    assert panel.metrics_table.rowCount() == 1
    assert panel.create_study(str(tmp_path / "b.db"), "mos", systems)
    assert panel.metrics_table.rowCount() == 0           # not the previous study's rows
    panel.open_file(str(tmp_path / "a.db"))
    assert panel.metrics_table.rowCount() == 1 and panel.metric_results[0]["fid"] == 12.5


def test_exports_are_whole_or_nothing_and_failures_are_in_our_words(panel, systems, tmp_path,
                                                                    monkeypatch):
    import errno

    from studio import dialogs

    assert panel.create_study(str(tmp_path / "w.db"), "mos", systems)
    panel.start("wes")
    panel.answer(4)
    out = tmp_path / "results.json"
    out.write_text("earlier")
    monkeypatch.setattr(dialogs, "save_file", lambda *a: str(out))
    real = Path.write_text

    def full_disk(self, text, *a, **k):
        real(self, text[: len(text) // 3])       # what got there before the disk filled
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    panel._on_json_clicked()
    status = panel.window().status
    assert status.error_label.text() == f"{out}: the disk is full (nothing was written; " \
                                        "the earlier file is kept)"
    assert out.read_text() == "earlier" and not list(tmp_path.glob(".*.part"))
    monkeypatch.setattr(Path, "write_text", real)
    gone = tmp_path / "gone" / "ratings.csv"
    monkeypatch.setattr(dialogs, "save_file", lambda *a: str(gone))
    panel._on_csv_clicked()
    assert status.error_label.text() == f"{gone}: folder {gone.parent} does not exist"
    monkeypatch.setattr(dialogs, "save_file", lambda *a: str(tmp_path / "r.csv"))
    panel._on_csv_clicked()
    assert (tmp_path / "r.csv").read_text().startswith("rater,seed")
    assert status.error_label.text() == ""
