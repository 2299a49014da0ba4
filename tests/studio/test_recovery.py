"""Sessions reopen the user's own checkpoints (by path, checked by fingerprint, asked for when
missing or changed), and work is autosaved and offered back after a crash (kill -9)."""

import shutil

import numpy as np
import pytest

from models.registry import Registry
from studio.app import MainWindow
from tests.conftest import make_inpaint_weights, make_tiny_diffusion


@pytest.fixture
def weights(tmp_path):
    return make_inpaint_weights(tmp_path / "weights")


def new_window(qtbot, weights):
    w = MainWindow(registry=Registry(weights))
    qtbot.addWidget(w)
    w.show()
    return w


def colour_picture():
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[10:38, 20:28] = (20, 200, 60)
    return rgb


def own_inpainting_session(qtbot, weights, tmp_path):
    """A window whose Inpainting panel runs the user's own checkpoint, saved as a session."""
    own = make_tiny_diffusion(tmp_path / "mine", name="my-diffusion", seed=7)
    win = new_window(qtbot, weights)
    panel = win.show_panel("inpaint")
    info = win.registry.add_checkpoint(own)
    win._on_panel_models_changed()
    panel.push_param("model", panel.doc.model, info.name)
    win.jobs.wait_until_idle(20)
    panel.set_picture(colour_picture(), "red")
    win.jobs.wait_until_idle(20)
    assert panel.doc.model == info.name
    path = tmp_path / "own.lsession"
    assert win.write_session(path)
    picture = np.array(panel.doc.image)
    win.close()
    return own, info.name, path, picture


def test_a_session_reopens_the_users_checkpoint(qtbot, weights, tmp_path):
    own, name, path, picture = own_inpainting_session(qtbot, weights, tmp_path)
    other = new_window(qtbot, weights)                 # a fresh start: only the shipped ones
    assert name not in [i.name for i in other.registry.infos()]
    with qtbot.waitSignal(other.session_opened, timeout=20000):
        assert other.open_session(path)
    panel = other.panels["inpaint"]
    assert panel.doc.model == name                     # not the shipped fallback
    assert np.array_equal(panel.doc.image, picture)    # the picture as it was, not reframed
    assert other.status.error_label.text() == ""
    assert not other.is_dirty()
    other.close()


def test_a_missing_or_changed_checkpoint_is_asked_for(qtbot, weights, tmp_path, monkeypatch):
    own, name, path, _ = own_inpainting_session(qtbot, weights, tmp_path)
    moved = tmp_path / "elsewhere" / own.name
    moved.parent.mkdir()
    shutil.move(own, moved)
    shutil.move(own.with_suffix(".json"), moved.with_suffix(".json"))
    asked = []

    other = new_window(qtbot, weights)
    monkeypatch.setattr(other, "ask_for_checkpoint",
                        lambda rec, why: asked.append((rec["name"], why)) or str(moved))
    with qtbot.waitSignal(other.session_opened, timeout=20000):
        other.open_session(path)
    assert asked == [(name, "the file is missing")]
    reopened = other.panels["inpaint"].doc.model
    assert other.registry.info(reopened).path == str(moved.resolve())
    other.close()

    # The same path now holds other weights: asked again, and going on without it says so.
    make_tiny_diffusion(own.parent, name="my-diffusion", seed=8)
    third = new_window(qtbot, weights)
    asked.clear()
    monkeypatch.setattr(third, "ask_for_checkpoint",
                        lambda rec, why: asked.append(why) or "")
    with qtbot.waitSignal(third.session_opened, timeout=20000):
        third.open_session(path)
    assert asked == ["the file has changed since the session was saved"]
    text = third.status.error_label.text()
    assert name in text and "changed" in text
    assert third.panels["inpaint"].doc.model != name
    third.close()


def test_fingerprints_tell_files_apart(tmp_path):
    from models import files

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"x" * 999 + b"y")
    assert files.fingerprint(a) != files.fingerprint(b)
    big = tmp_path / "big.bin"
    monkey = files.WHOLE_HASH_BYTES
    try:
        files.WHOLE_HASH_BYTES = 4096            # sampled blocks, as for a 4 GB file
        data = bytearray(files.BLOCK * 3)
        big.write_bytes(bytes(data))
        before = files.fingerprint(big)
        data[-1] = 1                             # the last block is sampled
        big.write_bytes(bytes(data))
        assert files.fingerprint(big) != before
    finally:
        files.WHOLE_HASH_BYTES = monkey
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "w.bin").write_bytes(b"1")
    first = files.fingerprint(folder)
    (folder / "unet" / "w.bin").write_bytes(b"2")
    assert files.fingerprint(folder) != first


KILLED = r'''
import json, os, signal, sys, time
from pathlib import Path
from studio.app import MainWindow, ensure_app, offscreen_platform
os.environ["QT_QPA_PLATFORM"] = offscreen_platform()
from PySide6.QtCore import QCoreApplication
from models.registry import Registry
app = ensure_app()
win = MainWindow(registry=Registry(Path(sys.argv[1])))
win.show()
latent = win.show_panel("latent")
latent.fill_random()
win.jobs.wait_until_idle(20)
win.autosave()                   # the 30 s tick, now
win.jobs.wait_until_idle(20)
assert win.autosave_path.is_file()
print(json.dumps([float(x) for x in latent.latent_of(0)]), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''


def test_work_survives_kill_9_and_is_offered_back(qtbot, weights, tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    from studio import autosave

    done = subprocess.run([sys.executable, "-c", KILLED, str(weights)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    latent = np.array(json.loads(done.stdout.strip().splitlines()[-1]), np.float32)
    assert len(autosave.leftovers()) == 1

    win = new_window(qtbot, weights)
    asked = []
    monkeypatch.setattr(win, "ask_restore", lambda when: asked.append(when) or True)
    with qtbot.waitSignal(win.session_opened, timeout=20000):
        assert win.offer_recovery()
    assert len(asked) == 1 and asked[0]                 # said when it was autosaved
    assert np.allclose(win.panels["latent"].latent_of(0), latent)
    assert win.is_dirty()                               # restored work is not saved yet
    assert autosave.leftovers() == [] and win.autosave_path.is_file()
    win.close()                                         # a clean quit leaves nothing
    assert not win.autosave_path.exists()


def test_autosave_after_a_change_and_never_of_saved_work(qtbot, weights, tmp_path):
    win = new_window(qtbot, weights)
    assert not win.autosave()                           # nothing changed
    latent = win.show_panel("latent")
    latent.fill_random()
    win.jobs.wait_until_idle(20)
    assert win.autosave()
    win.jobs.wait_until_idle(20)
    assert win.autosave_path.is_file()
    assert not win.autosave()                           # nothing new since
    win.autosave_path.unlink()
    latent.fill_random()                                # unsaved work, then a result:
    win.jobs.submit("latent-render", lambda *, ctx: 1, lane="long")
    qtbot.waitUntil(win.autosave_path.is_file, timeout=5000)   # autosaved soon after it
    win.jobs.wait_until_idle(20)
    win.write_session(tmp_path / "saved.lsession")
    assert not win.autosave_path.exists()               # saved: nothing to recover
    # Another studio that is still running is not a crash: its autosave is not offered.
    from studio import autosave

    other = autosave.folder() / f"autosave-{1}.lsession"   # pid 1 is alive
    other.write_bytes(b"x")
    assert autosave.leftovers() == []
    win.close()


def test_a_session_that_cannot_be_written_says_why_and_stays_unsaved(qtbot, weights, tmp_path):
    win = new_window(qtbot, weights)
    win.show_panel("latent").fill_random()
    win.jobs.wait_until_idle(20)
    bad = tmp_path / "nowhere" / "s.lsession"
    assert not win.write_session(bad)
    assert win.status.error_label.text() == (f"The session was not saved: {bad}: folder "
                                             f"{bad.parent} does not exist")
    assert win.is_dirty() and not list(tmp_path.glob("**/*.part"))
    win.close()
