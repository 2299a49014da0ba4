"""Stable Diffusion in the Inpainting panel: a tiny random pipeline built by diffusers here."""

import numpy as np
import pytest

from models.registry import Registry
from studio.app import MainWindow
from tests.conftest import make_tiny_diffusion
from tests.models import sd_tiny


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return sd_tiny.build(tmp_path_factory.mktemp("sd") / "inpainter", in_channels=9)


@pytest.fixture
def panel(qtbot, tmp_path, tiny_sd):
    make_tiny_diffusion(tmp_path / "weights")
    w = MainWindow(registry=Registry(tmp_path / "weights"))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    p = w.show_panel("inpaint")
    name = w.registry.add_checkpoint(tiny_sd).name
    p.backend_changed()
    p.model_combo.select(name)
    settle(p, qtbot)
    yield p
    w.close()


def settle(panel, qtbot):
    panel.ctx.jobs.wait_until_idle(60)
    qtbot.wait(20)


def photo(w=120, h=80):
    rng = np.random.default_rng(0)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def test_a_prompt_model_shows_its_controls_and_keeps_the_pictures_size(panel, qtbot):
    assert panel.prompted() and panel.run_button.text() == "Generate"
    assert panel.prompt_row.isVisible() and panel.sd_box.isVisible()
    assert not panel.class_combo.isVisible() and not panel.repaint_combo.isVisible()
    assert panel.doc.steps == 25 and panel.doc.guidance == 7.5
    panel.set_picture(photo(), "photo")
    settle(panel, qtbot)
    assert panel.doc.image.shape == (80, 120, 3)          # no glyph framing, no square crop
    assert panel.doc.mask.shape == (80, 120)
    assert "own size" in panel.note_label.text()            # and says so


def test_generate_without_a_picture_is_text_to_image(panel, qtbot):
    panel.prompt_combo.setEditText("a red house")
    panel.prompt_combo.lineEdit().editingFinished.emit()
    panel.steps_spin.setValue(3)
    panel.batch_spin.setValue(2)
    panel.run()
    settle(panel, qtbot)
    assert len(panel.doc.history) == 2
    assert panel.doc.history[0].result.shape == (64, 64, 3)
    assert panel.doc.history[1].options["seed"] == str(panel.doc.seed + 1)
    assert panel.prompt_combo.findText("a red house") >= 0          # prompt history
    assert "s/step" in panel.status_label.text()


def test_inpainting_keeps_unmasked_pixels_and_cancel_keeps_them_too(panel, qtbot):
    panel.set_picture(photo(), "photo")
    settle(panel, qtbot)
    mask = np.zeros((80, 120), np.float32)
    mask[20:50, 40:90] = 1
    panel.set_mask(mask, "box")
    panel.steps_spin.setValue(3)
    panel.run()
    settle(panel, qtbot)
    result = panel.doc.history[-1].result
    src = photo().astype(np.float32) / 255
    assert np.array_equal(result[mask < 0.5], src[mask < 0.5])
    assert np.abs(result[mask > 0.5] - src[mask > 0.5]).mean() > 0.01
    # A long run cancelled after a preview: the kept preview changes only the masked part.
    panel.steps_spin.setValue(400)
    panel.run()
    qtbot.waitUntil(lambda: panel.preview is not None, timeout=30000)
    panel.cancel()
    settle(panel, qtbot)
    kept = panel.doc.history[-1]
    assert kept.options.get("cancelled")
    assert np.array_equal(kept.result[mask < 0.5], src[mask < 0.5])
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_sd_settings_are_undoable_and_saved_in_sessions(panel, qtbot, tmp_path):
    from studio.session import load_session, save_session

    panel.blur_spin.setValue(9.0)
    panel.add_lora("/somewhere/style.safetensors", 0.7)
    assert panel.lora_list.count() == 1 and "0.7" in panel.lora_list.item(0).text()
    panel.undo_stack.undo()
    assert panel.doc.loras == ()
    panel.undo_stack.redo()
    panel.add_embedding("/somewhere/paintstyle.safetensors")
    assert panel.embed_label.text() == "paintstyle"
    panel.negative_edit.setText("blurry")
    panel.negative_edit.editingFinished.emit()
    path = save_session(tmp_path / "s.lsession", {"inpaint": panel.state()})
    panel.doc.set_param("mask_blur", 1.0)
    panel.doc.set_param("loras", ())
    panel.restore_state(load_session(path)["inpaint"])
    assert panel.doc.mask_blur == 9.0 and panel.blur_spin.value() == 9.0
    assert panel.doc.loras == (("/somewhere/style.safetensors", 0.7),)
    assert panel.negative_edit.text() == "blurry"
    assert panel.doc.embeddings == ("/somewhere/paintstyle.safetensors",)


def test_screenshot_of_the_stable_diffusion_panel(panel, qtbot, tmp_path):
    """Look at it: LATENT_STUDIO_SHOTS=DIR keeps the picture."""
    import os

    panel.set_picture(photo(320, 200), "photo")
    settle(panel, qtbot)
    mask = np.zeros((200, 320), np.float32)
    mask[60:140, 100:220] = 1
    panel.set_mask(mask, "box")
    panel.prompt_combo.setEditText("a blue tree")
    panel.prompt_combo.lineEdit().editingFinished.emit()
    panel.steps_spin.setValue(3)
    panel.run()
    settle(panel, qtbot)
    shot = panel.window().grab()
    assert shot.save(str(tmp_path / "sd-panel.png"))
    assert (shot.width(), shot.height()) == (1000, 700)     # the controls fit the window
    if os.environ.get("LATENT_STUDIO_SHOTS"):
        shot.save(os.path.join(os.environ["LATENT_STUDIO_SHOTS"], "sd-panel.png"))
    assert shot.width() >= 1000


def test_big_pictures_zoom_about_the_cursor_and_pan(panel, qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt

    panel.set_picture(photo(640, 400), "photo")
    settle(panel, qtbot)
    c = panel.canvas
    at = QPointF(c._target().left() + c._target().width() * 0.25,
                 c._target().top() + c._target().height() * 0.5)
    before = c.to_mask_xy(at)
    c.zoom_at(at, 4.0)
    assert c.zoom == 4.0 and c._target().width() > 3.9 * c._fitted().width()
    after = c.to_mask_xy(at)
    assert abs(after[0] - before[0]) < 1.0 and abs(after[1] - before[1]) < 1.0
    x0 = c.to_mask_xy(at)[0]
    qtbot.mousePress(c, Qt.MouseButton.MiddleButton, pos=at.toPoint())
    qtbot.mouseMove(c, at.toPoint() + QPoint(40, 0))
    qtbot.mouseRelease(c, Qt.MouseButton.MiddleButton, pos=at.toPoint() + QPoint(40, 0))
    assert c.to_mask_xy(at)[0] < x0 - 5            # the picture moved right under the cursor
    assert float(panel.doc.mask.max()) == 0.0      # panning painted nothing
    qtbot.mouseDClick(c, Qt.MouseButton.LeftButton, pos=at.toPoint())
    assert c.zoom == 1.0 and c._target() == c._fitted()
    panel.compare.zoom_at(QPointF(panel.compare._fitted().center()), 2.0)
    assert panel.compare._target().width() > 1.9 * panel.compare._fitted().width()


def test_recent_models_and_prompts_are_remembered_for_the_next_window(panel, qtbot, tiny_sd,
                                                                       tmp_path):
    panel.prompt_combo.setEditText("a green house")
    panel.prompt_combo.lineEdit().editingFinished.emit()
    panel.steps_spin.setValue(2)
    panel.run()
    settle(panel, qtbot)
    assert panel.recent_models()[0] == str(tiny_sd.resolve())
    make_tiny_diffusion(tmp_path / "w2")
    w = MainWindow(registry=Registry(tmp_path / "w2"))        # the same settings file
    qtbot.addWidget(w)
    p = w.show_panel("inpaint")
    assert not p.prompted()
    assert p.prompt_combo.findText("a green house") >= 0
    p._fill_recent_menu()
    actions = [a for a in p.recent_menu.actions() if a.isEnabled()]
    assert [a.text() for a in actions] == [tiny_sd.name]
    actions[0].trigger()
    settle(p, qtbot)
    qtbot.waitUntil(p.prompted, timeout=20000)
    assert p.doc.model.startswith(tiny_sd.name)
    w.close()


def test_previews_replace_only_the_result_side(panel, qtbot, monkeypatch):
    """The picture shown beside a run's previews is converted once, not at every step."""
    panel.set_picture(photo(), "photo")
    settle(panel, qtbot)
    mask = np.zeros((80, 120), np.float32)
    mask[20:50, 40:90] = 1
    panel.set_mask(mask, "box")
    panel.steps_spin.setValue(12)
    befores, afters = [], []
    real = panel._on_preview

    def on_preview(p):
        real(p)
        befores.append(panel.compare._before)
        afters.append(panel.compare._after)

    monkeypatch.setattr(panel, "_on_preview", on_preview)
    panel.run()
    settle(panel, qtbot)
    assert len(befores) >= 3
    assert all(b is befores[0] for b in befores) and befores[0] is not None
    assert len({id(a) for a in afters}) == len(afters)          # each preview is shown
