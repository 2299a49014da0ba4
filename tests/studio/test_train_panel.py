"""The Train panel: your pictures previewed, a training process driven from the window
(curves, snapshots, pause and resume), the model registered for every panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.train.loop import read_state
from studio.app import MainWindow


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(14):
        im = np.full((80, 96, 3), 255, np.uint8)
        y, x = rng.integers(10, 60, 2)
        im[y:y + 20, x:x + 24] = rng.integers(0, 200, 3)
        im[:, :3] = rng.integers(0, 255, 3)
        Image.fromarray(im).save(folder / f"p{i:02d}.png")
    (folder / "copy.png").write_bytes((folder / "p00.png").read_bytes())
    (folder / "notes.png").write_text("not a picture")
    return folder


@pytest.fixture
def panel(window, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    p = window.show_panel("train")
    p.extra_args = ["--max-steps", "70", "--width", "8", "--latent-dim", "4", "--batch", "8"]
    return p


def test_choosing_a_folder_shows_what_is_used_and_what_is_not(panel, pictures, qtbot):
    assert not panel.start_button.isEnabled()
    panel.set_sources([str(pictures)])
    qtbot.waitUntil(lambda: panel.scan is not None, timeout=20000)
    assert "<b>14</b> pictures will be used" in panel.summary_label.text()
    assert panel.thumbs.count() == 14
    dropped = [panel.dropped_list.item(i).text() for i in range(panel.dropped_list.count())]
    assert len(dropped) == 2
    assert any(": duplicate" in t for t in dropped)
    assert any(t.startswith("notes.png: unreadable") for t in dropped)
    assert panel.start_button.isEnabled() and panel.name_edit.text() == "mine"
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    panel.set_sources([str(pictures / "nothing-here")])
    assert errors == [f"{pictures / 'nothing-here'}: no such file or folder"]
    assert panel.scan is not None and panel.start_button.isEnabled()   # the set stays


def test_train_pause_resume_and_the_model_reaches_every_panel(panel, window, pictures,
                                                              qtbot):
    panel.set_sources([str(pictures)])
    qtbot.waitUntil(lambda: panel.scan is not None, timeout=20000)
    panel.start()
    assert panel.mode == "training" and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.steps) >= 3, timeout=60000)
    panel.pause()
    qtbot.waitUntil(lambda: panel.mode == "paused", timeout=60000)
    assert len(panel.snapshots) == 1 and (panel.snapshots[0] / "samples.png").is_file()
    paused_at = read_state(panel.snapshots[0])["step"]
    assert panel.steps[-1][0] <= paused_at < 70 and panel.resume_button.isEnabled()
    assert f"Paused at step {paused_at};" in panel.status_label.text()
    assert panel.samples_label.pixmap() is not None and not panel.samples_label.pixmap().isNull()
    # The studio closes and opens again: the paused run is there to resume.
    state = panel.state()
    assert state["run"] == str(panel.run_folder)
    window = MainWindow(registry=window.registry)
    qtbot.addWidget(window)
    extra = panel.extra_args
    panel = window.show_panel("train")
    panel.extra_args = extra
    panel.restore_state(state)
    qtbot.waitUntil(lambda: panel.mode == "paused", timeout=20000)
    assert f"Paused at step {paused_at} (in an earlier session)" in panel.status_label.text()
    assert panel.resume_button.isEnabled() and panel.snapshot_list.count() == 1
    with qtbot.waitSignal(panel.models_changed, timeout=120000):
        panel.resume()
    assert panel.mode == "idle" and panel.result is not None
    assert panel.steps[-1][0] == 70
    assert {"resumed": str(panel.snapshots[0]), "step": paused_at} in panel.events
    assert "Done in" in panel.status_label.text()
    assert len(panel.loss_curve.getData()[0]) == len(panel.steps) > 8
    name = Path(panel.result["weights"]).stem
    assert name == f"vae-{panel.run_folder.name}"
    assert panel.model_name.startswith(name)
    assert panel.model_name in window.panels["latent"].model_combo.names()
    info = window.registry.info(panel.model_name)
    assert tuple(info.image_shape) == (64, 64, 3) and info.path == panel.result["weights"]


def test_a_failing_trainer_is_said_in_the_window(panel, pictures, qtbot):
    panel.set_sources([str(pictures)])
    qtbot.waitUntil(lambda: panel.scan is not None, timeout=20000)
    panel.extra_args = ["--init", str(pictures / "p00.png")]
    errors = []
    panel.error.connect(lambda m, d: errors.append(m))
    panel.start()
    qtbot.waitUntil(lambda: panel.mode == "idle", timeout=60000)
    assert errors and errors[0].startswith("Training failed: ")
    assert "Traceback" not in errors[0]
