import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from models import device as devices
from models.registry import Registry
from studio.app import MainWindow
from studio.panels import registered_panels
from studio.session import SessionError, load_session, save_session


def test_registered_panels_appear_in_order(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == [c.title for c in registered_panels()]
    assert titles[0] == "Latent Explorer"


def test_every_panel_renders_a_screenshot(window, tmp_path):
    for name in window.panels:
        window.show_panel(name)
        window.jobs.wait_until_idle(20)
        image = window.grab().toImage()
        assert image.width() > 600 and image.height() > 400
        assert image.save(str(tmp_path / f"{name}.png"))


def test_status_bar_shows_errors_with_details(window, qtbot):
    window.jobs.submit("boom", lambda *, ctx: (_ for _ in ()).throw(OSError("disk on fire")))
    window.jobs.wait_until_idle(5)
    assert window.status.error_label.text() == "disk on fire"
    assert window.status.details_button.isVisible()
    assert "Traceback" in window.status._details


def test_status_bar_tracks_the_running_job_and_cancels_it(window, qtbot):
    import threading
    import time

    started = threading.Event()

    def forever(*, ctx):
        started.set()
        while True:
            ctx.report(0.5)
            time.sleep(0.005)                 # a step of work (which lets the window run)

    window.jobs.submit("long", forever, label="Thinking hard")
    assert started.wait(2)
    qtbot.waitUntil(lambda: window.status.job_label.text().startswith("Thinking hard — 50%"),
                    timeout=2000)
    assert window.status.cancel_button.isVisible()
    window.status.cancel_button.click()
    assert window.jobs.wait_until_idle(3)
    assert window.status.job_label.text() == "Ready"


def test_a_long_job_shows_text_progress_with_time_left_and_says_how_it_ended(window, qtbot):
    import threading
    import time

    status = window.status
    go_on, step = threading.Event(), threading.Event()

    def job(*, ctx):
        ctx.report(0.0)
        step.wait(5)
        time.sleep(0.1)                      # reports closer than 30 ms are thinned out
        ctx.report(0.25)
        go_on.wait(5)
        return 1

    window.jobs.submit("evaluation-metric", job, lane="long", label="Computing FID")
    qtbot.waitUntil(lambda: "Computing FID" in status.job_label.text(), timeout=2000)
    status._started["evaluation-metric"] = time.monotonic() - 30    # as if 30 s ago
    step.set()
    qtbot.waitUntil(lambda: "25%" in status.job_label.text(), timeout=2000)
    status._refresh()
    import re

    # 30 s for a quarter: about 90 s left (a few tenths of a second later than set above)
    assert re.fullmatch(r"Computing FID — 25%, about 1:3[01] left", status.job_label.text())
    shown = status.job_label                               # and it can be read on screen
    assert shown.isVisible() and shown.width() >= shown.fontMetrics().horizontalAdvance(
        shown.text())
    status._started["evaluation-metric"] = time.monotonic() - 65
    go_on.set()
    assert window.jobs.wait_until_idle(5)
    assert status.job_label.text() == "Computing FID: done in 1:05"   # not just "Ready"
    # A cancelled one says so too.
    window.jobs.submit("evaluation-metric", lambda *, ctx: [ctx.report(0.1), go_on.clear(),
                                                            go_on.wait(5), ctx.check()],
                       lane="long", label="Computing KID")
    qtbot.waitUntil(lambda: "Computing KID" in status.job_label.text(), timeout=2000)
    status._started["evaluation-metric"] = time.monotonic() - 3
    status.cancel_button.click()
    go_on.set()
    assert window.jobs.wait_until_idle(5)
    assert status.job_label.text() == "Computing KID: cancelled after 0:03"


def test_device_choice_is_remembered(window, qtbot, tiny_weights):
    window.registry.get("tiny-vae", "meta")          # as if loaded on another device
    window.set_device("cpu")
    assert ("tiny-vae", "meta") not in window.registry.loaded()   # freed on the switch
    assert window.settings.value("device") == "cpu"
    assert window.status.device_label.text() == "Device: CPU"
    assert window.device_actions["cpu"].isChecked()
    assert window.device_actions["cuda"].isEnabled() == ("cuda" in devices.available_devices())


def test_undo_routes_to_the_active_panel(window):
    latent = window.show_panel("latent")
    latent.fill_random()
    window.jobs.wait_until_idle(10)
    assert latent.slots[0] is not None
    assert window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert latent.slots[0] is None
    window.redo_action.trigger()
    assert latent.slots[0] is not None


def test_session_round_trip_restores_panels_exactly(window, qtbot, tmp_path, tiny_weights):
    latent = window.show_panel("latent")
    latent.fill_random()
    latent.set_active(1)
    latent.fill_random()
    latent.steps_spin.setValue(5)
    latent.mode_combo.setCurrentText("linear")
    latent.scrub_slider.setValue(250)
    window.jobs.wait_until_idle(10)
    assert window.is_dirty()
    path = tmp_path / "s.lsession"
    assert window.write_session(path)
    assert not window.is_dirty() and "s.lsession" in window.windowTitle()

    other = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(other)
    assert other.open_session(path)
    other.jobs.wait_until_idle(10)
    again = other.panels["latent"]
    assert (again.steps, again.mode, again.scrub) == (5, "linear", 250)
    for i in (0, 1):
        assert np.array_equal(again.latent_of(i), latent.latent_of(i))
    assert again.slots[2] is None
    assert not other.is_dirty()
    other.close()


def test_bad_session_files_get_a_message(window, tmp_path):
    bad = tmp_path / "bad.lsession"
    bad.write_text("not a zip")
    assert not window.open_session(bad)
    assert "not a readable session file" in window.status.error_label.text()


def test_session_from_a_newer_version_is_refused(tmp_path):
    import json
    import zipfile

    path = save_session(tmp_path / "s.lsession", {"latent": {"x": np.arange(3)}})
    assert np.array_equal(load_session(path)["latent"]["x"], np.arange(3))
    with zipfile.ZipFile(path) as z:
        doc = json.loads(z.read("session.json"))
        arrays = z.read("arrays.npz")
    doc["version"] = 99
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("session.json", json.dumps(doc))
        z.writestr("arrays.npz", arrays)
    with pytest.raises(SessionError, match="newer Latent Studio"):
        load_session(path)


def test_quit_with_unsaved_work_asks(window, monkeypatch):
    monkeypatch.delenv("LATENT_STUDIO_NO_PROMPT")
    window.panels["latent"].fill_random()
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert not window.close()
    assert asked and "Save" in asked[0]
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.close()


def test_geometry_and_recent_files_persist(window, qtbot, tmp_path, tiny_weights):
    window.resize(1400, 900)
    assert (window.width(), window.height()) == (1400, 900)
    window.write_session(tmp_path / "r.lsession")
    window.close()
    again = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (1400, 900)
    assert str(tmp_path / "r.lsession") in again._recent()
    assert again.recent_menu.isEnabled()
    again.close()


def test_bad_checkpoint_is_a_message_not_a_crash(window, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"nope")
    window.open_checkpoint(str(junk))
    window.jobs.wait_until_idle(10)
    assert "junk.safetensors" in window.status.error_label.text()


def test_shortcuts_dialog_lists_every_shortcut(window):
    from PySide6.QtWidgets import QTableWidget

    dlg = window.show_shortcuts()
    t = dlg.findChild(QTableWidget)
    rows = {(t.item(r, 0).text(), t.item(r, 2).text()) for r in range(t.rowCount())}
    names = {t.item(r, 1).text() for r in range(t.rowCount())}
    assert {"Save Session", "Undo", "Quit", "Keyboard Shortcuts"} <= names
    keys = {k for _, k in rows}
    # The panels' own keys, not only the menus': slots, random, tools, play, delete, ratings.
    assert {"A", "B", "C", "D", "R", "E", "S", "V", "Space", "Del", "1", "2", "3", "4",
            "5"} <= keys
    assert ("Latent Explorer", "R") in rows and ("Spectrogram", "Space") in rows
    assert ("Evaluation", "3") in rows
    dlg.close()


def test_status_messages_are_seen_and_clear_the_last_error(window):
    panel = window.panels["latent"]
    panel.error.emit("Something went wrong", "")
    assert window.status.error_label.text() == "Something went wrong"
    panel.message.emit("Exported /tmp/x.png")
    label = window.status.message_label
    assert label.text() == "Exported /tmp/x.png" and label.isVisible()
    assert label.width() > 100                      # it has room to be read
    assert window.status.error_label.text() == ""   # the next success clears the error
    assert not window.status.details_button.isVisible()


def test_long_messages_never_widen_the_window(window):
    before = window.minimumSizeHint().width()
    window.panels["latent"].message.emit("exported " + "a-very-long-file-name/" * 40)
    window.panels["latent"].error.emit("could not read " + "a-very-long-file-name/" * 40, "")
    assert window.minimumSizeHint().width() == before
    assert window.minimumSizeHint().width() <= 1000


def test_opening_a_session_over_unsaved_work_asks(window, monkeypatch, tmp_path):
    window.write_session(tmp_path / "old.lsession")
    window.panels["latent"].fill_random()            # unsaved work
    monkeypatch.delenv("LATENT_STUDIO_NO_PROMPT")
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert not window.open_session(tmp_path / "old.lsession")
    assert asked and "old.lsession" in asked[0]
    assert window.panels["latent"].slots[0] is not None       # the work is still there
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.open_session(tmp_path / "old.lsession")
    assert window.panels["latent"].slots[0] is None


def test_model_cards_read_as_tables(window):
    panel = window.show_panel("models")
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    panel.table.selectRow(names.index("tiny-vae"))
    rows = dict(panel.card_view.rows())
    assert "family" in rows and rows["family"] == "vae"
    assert "test mse vae" in rows                  # fields by name, numbers formatted
    assert not panel.card_view.json_view.toPlainText().startswith("Select")
    assert '"family": "vae"' in panel.card_view.json_view.toPlainText()


def test_an_error_belongs_to_its_panel_and_follows_it_not_the_user(window):
    latent, spectral = window.panels["latent"], window.panels["spectral"]
    window.show_panel("latent")
    latent.error.emit("A broke", "details of A")
    assert window.status.error_label.text() == "A broke"
    window.show_panel("spectral")                         # another panel: not its error
    assert window.status.error_label.text() == "" and not window.status.error_label.isVisible()
    spectral.message.emit("Opened take.wav")              # its success clears nothing of A's
    window.show_panel("latent")                           # back: A's error is still there
    assert window.status.error_label.text() == "A broke"
    assert window.status._details == "details of A"
    latent.message.emit("Exported x.png")                 # A's next success clears it
    assert window.status.error_label.text() == ""
    window.show_panel("spectral")
    window.show_panel("latent")
    assert window.status.error_label.text() == ""
    # A job of a panel out of view fails: its error waits for that panel.
    window.jobs.submit("spectral-open", lambda *, ctx: (_ for _ in ()).throw(
        OSError("no such take")))
    window.jobs.wait_until_idle(5)
    assert window.status.error_label.text() == ""
    window.show_panel("spectral")
    assert window.status.error_label.text() == "no such take"


def test_the_first_window_fits_the_screen(qtbot, tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_SETTINGS", str(tmp_path / "fresh.ini"))
    win = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(win)
    avail = win.screen().availableGeometry()
    assert win.width() <= avail.width() and win.height() <= avail.height()
    assert win.width() >= 0.8 * avail.width() and win.height() >= 0.8 * avail.height()
    win.close()


def test_the_recent_list_of_an_earlier_version_is_kept(tiny_weights, qtbot, tmp_path):
    from studio.dialogs import make_settings

    settings = make_settings()
    settings.setValue("recent_files", [str(tmp_path / "new.lsession"), str(tmp_path / "a.png"),
                                       str(tmp_path / "old.lsession")])
    settings.sync()
    win = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(win)
    assert win._recent() == [str(tmp_path / "new.lsession"), str(tmp_path / "old.lsession"),
                             str(tmp_path / "a.png")]
    assert win.settings.value("recent_files") is None
    win.shutdown()


def test_file_dialogs_remember_the_folder_of_each_kind(window, tmp_path, monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    pics, sounds = tmp_path / "pics", tmp_path / "sounds"
    pics.mkdir()
    sounds.mkdir()
    Image.new("RGB", (8, 8)).save(pics / "a.png")
    starts, answers = [], [str(pics / "a.png"), "", ""]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(
        lambda parent, title, start, filters: (starts.append(start) or answers.pop(0), "")))
    inpaint = window.show_panel("inpaint")
    inpaint._open_dialog()                       # the first time: no folder remembered
    window.jobs.wait_until_idle(10)
    inpaint._open_dialog()                       # the next picture dialog starts there
    window.show_panel("spectral")._choose_file()   # a sound dialog keeps its own folder
    assert starts == ["", str(pics), ""]
    again = MainWindow(registry=window.registry)   # remembered across starts
    assert again.settings.value("dialogs/picture") == str(pics)
    again.shutdown()


def test_open_recent_lists_every_kind_and_opens_each_where_it_belongs(window, tmp_path):
    import soundfile as sf
    from PIL import Image

    from studio import dialogs

    pic, wav = tmp_path / "cat.png", tmp_path / "take.wav"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(pic)
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    study, ckpt = tmp_path / "s.db", tmp_path / "mine.safetensors"
    window.write_session(tmp_path / "r.lsession")
    for p in (pic, wav, study, ckpt):
        dialogs.remember(window.settings, p)
    window.recent_menu.aboutToShow.emit()
    actions = window.recent_menu.actions()
    sections = [a.text() for a in actions if a.isSeparator()]
    assert sections == ["Sessions", "Pictures", "Sounds", "Studies", "Checkpoints"]
    names = [a.text() for a in actions if not a.isSeparator()]
    assert names == ["r.lsession", "cat.png", "take.wav", "s.db", "mine.safetensors"]
    window.show_panel("latent")
    next(a for a in actions if a.text() == "take.wav").trigger()   # a sound: the Spectrogram
    assert window.current_panel().name == "spectral"
    window.jobs.wait_until_idle(20)
    assert window.panels["spectral"].original.size == 1600
    next(a for a in window.recent_menu.actions() if a.text() == "s.db").trigger()
    # The study was never made: said, and dropped from the list.
    assert "no longer there" in window.status.error_label.text()
    assert str(study) not in window._recent()
