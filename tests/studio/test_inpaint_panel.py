"""The Inpainting panel over a tiny seeded latent diffusion model (16 px, classes abc)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from models.image import masks as mk
from models.registry import Registry
from models.tasks import inpaint as ip
from studio.app import MainWindow
from studio.panels.inpaint import InpaintPanel
from studio.session import load_session, save_session
from tests.conftest import make_inpaint_weights


@pytest.fixture
def weights(tmp_path):
    return make_inpaint_weights(tmp_path / "weights")


@pytest.fixture
def win(qtbot, weights):
    w = MainWindow(registry=Registry(weights))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    w.close()


def settle(panel, qtbot):
    panel.ctx.jobs.wait_until_idle(20)
    qtbot.wait(20)


def bar_picture():
    """Black bar on white, 48 px: the panel inverts and resizes it to the model's 16 px."""
    rgb = np.full((48, 48, 3), 255, np.uint8)
    rgb[6:42, 20:28] = 0
    return rgb


@pytest.fixture
def panel(win, qtbot):
    p = win.show_panel("inpaint")
    settle(p, qtbot)
    p.set_picture(bar_picture(), "bar")
    settle(p, qtbot)
    return p


def canvas_point(canvas, x, y):
    """The widget position of mask pixel (x, y)."""
    r = canvas._target()
    h, w = canvas.mask.shape
    return QPoint(int(r.left() + (x + 0.5) * r.width() / w),
                  int(r.top() + (y + 0.5) * r.height() / h))


def test_a_picture_arrives_at_the_models_size_with_an_empty_mask(panel):
    d = panel.doc
    assert d.model == "tiny-diffusion" and d.image.shape == (16, 16, 1)
    assert d.mask.shape == (16, 16) and d.mask.max() == 0
    assert d.dark_on_light and d.image[8, 8, 0] > 0.5          # the bar, light on dark
    assert [panel.class_combo.itemText(i) for i in range(4)] == ["none", "a", "b", "c"]
    panel.undo_stack.undo()                                     # the picture is one step
    assert panel.doc.image is None


def test_brush_strokes_rectangles_and_fills_are_undo_steps(panel, qtbot):
    c = panel.canvas
    panel.size_spin.setValue(1.5)
    panel.hardness_slider.setValue(100)
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 2, 8))
    for x in range(3, 14):
        qtbot.mouseMove(c, canvas_point(c, x, 8))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 13, 8))
    m = panel.doc.mask
    assert m[8, 2:14].min() == 1.0 and m[0].max() == 0 and m[15].max() == 0
    steps = panel.undo_stack.count()
    # The eraser takes a piece out; a rectangle adds a block; each is one undo step.
    panel.push_param("tool", panel.doc.tool, "eraser")
    assert c.tool == "eraser" and panel.tool_buttons["eraser"].isChecked()
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 8, 8))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 8, 8))
    assert panel.doc.mask[8, 8] == 0 and panel.doc.mask[8, 3] == 1
    panel.push_param("tool", panel.doc.tool, "rectangle")
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 1, 1))
    qtbot.mouseMove(c, canvas_point(c, 4, 3))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 4, 3))
    assert panel.doc.mask[1:4, 1:5].min() == 1 and panel.doc.mask[5, 1] == 0
    assert panel.undo_stack.count() == steps + 4          # two tool changes, two edits
    panel.undo_stack.undo()
    assert panel.doc.mask[2, 2] == 0
    panel.undo_stack.undo()                                # the tool change
    panel.undo_stack.undo()                                # the eraser
    assert np.array_equal(panel.doc.mask, m)
    # Invert, grow, feather: each one step, each what the mask functions do.
    panel.invert_button.click()
    assert np.array_equal(panel.doc.mask, mk.invert(m))
    panel.grow_button.click()
    assert np.array_equal(panel.doc.mask, mk.grow(mk.invert(m), 1))
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    assert np.array_equal(panel.doc.mask, m)
    assert "mask" in panel.mask_label.text()


def test_fill_closes_an_outline(panel, qtbot):
    ring = mk.empty(16, 16)
    ring = mk.rectangle(ring, 3, 3, 12, 12)
    ring = mk.rectangle(ring, 4, 4, 11, 11, value=0.0)
    panel.set_mask(ring, "ring")
    panel.push_param("tool", panel.doc.tool, "fill")
    c = panel.canvas
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=canvas_point(c, 7, 7))
    assert panel.doc.mask[3:13, 3:13].min() == 1 and panel.doc.mask[0, 0] == 0


def test_a_run_previews_every_step_and_adds_a_result_with_its_options(panel, qtbot):
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(6)
    panel.class_combo.setCurrentIndex(2)                  # class "b"
    panel.guidance_spin.setValue(2.0)
    panel.seed_spin.setValue(5)
    assert "6 network calls" in panel.cost_label.text()
    shown = []
    orig = panel._on_preview
    panel._on_preview = lambda p: (shown.append(np.array(p)), orig(p))
    panel.run()
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    settle(panel, qtbot)
    assert len(panel.doc.history) == 1 and panel.doc.selected == 0
    entry = panel.doc.history[0]
    want = ip.run(panel.ctx.registry, "tiny-diffusion", entry.source, entry.mask,
                  ip.InpaintOptions(steps=6, label=1, guidance=2.0, seed=5))
    # The same seed, the same result (up to the worker thread's float summation order).
    assert np.allclose(entry.result, want, atol=1e-4)
    assert not np.allclose(entry.result, ip.run(panel.ctx.registry, "tiny-diffusion", entry.source,
                                                entry.mask, ip.InpaintOptions(steps=6, seed=6)),
                           atol=1e-3)
    assert entry.options["class"] == "b" and entry.options["seed"] == "5"
    assert 1 <= len(shown) <= 6 and shown[-1].shape == (16, 16, 1)
    assert panel.progress.value() == 1000 and panel.run_button.isEnabled()
    assert panel.history_list.count() == 1 and "guidance: 2.0" in \
        panel.history_list.item(0).toolTip()
    # The before/after view: the slider and the view move together.
    panel.split_slider.setValue(40)
    assert panel.compare.split == pytest.approx(0.4)
    panel.compare.set_split(0.75)
    assert panel.split_slider.value() == 75


def test_cancel_stops_and_keeps_the_last_preview(panel, qtbot, monkeypatch):
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(100)
    previews = []
    real = panel._on_preview

    def on_preview(p):
        real(p)
        previews.append(1)
        if len(previews) == 3:
            panel.cancel()

    monkeypatch.setattr(panel, "_on_preview", on_preview)
    panel.run()
    settle(panel, qtbot)
    assert 3 <= len(previews) < 100
    assert len(panel.doc.history) == 1
    assert panel.doc.history[0].options["cancelled"].startswith("yes")
    assert "Cancelled" in panel.status_label.text()
    assert not panel.ctx.jobs.is_busy()


def test_a_cancel_from_the_status_bar_ends_the_run_keeping_unmasked_pixels(
        win, panel, qtbot, monkeypatch):
    """Esc / the status bar's Cancel: the panel hears of it (no 'Running' left, Inpaint
    enabled), and the kept preview has the picture's own pixels outside the mask."""
    mask = mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6)
    panel.set_mask(mask, "top")
    panel.steps_spin.setValue(100)
    real, previews = panel._on_preview, []

    def on_preview(p):
        real(p)
        previews.append(1)
        if len(previews) == 3:
            win.status.cancel_current()            # not the panel's own Cancel

    monkeypatch.setattr(panel, "_on_preview", on_preview)
    panel.run()
    settle(panel, qtbot)
    assert 3 <= len(previews) < 100
    assert panel._running is None and panel.run_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    assert "Running" not in panel.status_label.text()
    kept = panel.doc.history[-1]
    assert kept.options["cancelled"].startswith("yes")
    outside = mask == 0
    assert np.array_equal(kept.result[outside], kept.source[outside])
    assert not np.array_equal(kept.result[~outside], kept.source[~outside])


def test_empty_mask_and_no_picture_are_messages(win, qtbot):
    p = win.show_panel("inpaint")
    errors = []
    p.error.connect(lambda msg, _d: errors.append(msg))
    p.run()
    p.set_picture(bar_picture(), "bar")
    settle(p, qtbot)
    p.run()
    assert "Open a picture" in errors[0] and "mask is empty" in errors[1]
    assert not p.doc.history


def test_export_writes_the_options_and_evaluation_gets_the_history(panel, qtbot, tmp_path):
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(3)
    panel.run()
    settle(panel, qtbot)
    panel.seed_spin.setValue(9)
    panel.run()
    settle(panel, qtbot)
    out = tmp_path / "r.png"
    panel.export(str(out))
    img = Image.open(out)
    assert img.size == (64, 64) and img.text["seed"] == "9" and img.text["source"] == "bar"
    sent = []
    panel.send_to_evaluation.connect(lambda folder, label: sent.append(folder))
    panel.to_eval_button.click()
    assert len(sent) == 1
    from pathlib import Path
    assert sorted(p.name for p in Path(sent[0]).iterdir()) == ["result-01.png", "result-02.png"]
    # Using a result as the picture keeps the mask and is one undo step.
    mask = panel.doc.mask.copy()
    panel.use_button.click()
    assert np.array_equal(panel.doc.image, panel.doc.history[1].result)
    assert np.array_equal(panel.doc.mask, mask)
    panel.undo_stack.undo()
    assert np.array_equal(panel.doc.image, panel.doc.history[1].source)


def test_the_session_keeps_picture_mask_options_and_history(panel, qtbot, weights, tmp_path):
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 2, 2, 9, 9), "box")
    panel.steps_spin.setValue(3)
    panel.repaint_combo.setCurrentIndex(panel.repaint_combo.findData("fast"))
    assert panel.doc.steps == 50 and "230 network calls" in panel.cost_label.text()
    panel.undo_stack.undo()                       # the preset and its steps: one step
    assert panel.doc.repaint == "none" and panel.doc.steps == 3
    panel.run()
    settle(panel, qtbot)
    path = save_session(tmp_path / "s.lsession", {"inpaint": panel.state()})
    ctx = panel.ctx
    again = InpaintPanel(ctx)
    qtbot.addWidget(again)
    again.restore_state(load_session(path)["inpaint"])
    settle(again, qtbot)
    assert np.array_equal(again.doc.mask, panel.doc.mask)
    assert np.array_equal(again.doc.image, panel.doc.image)
    assert again.doc.steps == 3 and again.steps_spin.value() == 3
    assert len(again.doc.history) == 1 and again.history_list.count() == 1
    assert np.array_equal(again.doc.history[0].result, panel.doc.history[0].result)
    assert again.undo_stack.count() == 0
    again.shutdown()


def test_other_panels_send_pictures_here(win, qtbot):
    latent = win.show_panel("latent")
    settle(latent, qtbot)
    latent.fill_random()
    latent.set_active(1)
    latent.fill_random()
    settle(latent, qtbot)
    assert latent.inpaint_button.isEnabled()
    latent.inpaint_button.click()
    inpaint = win.panels["inpaint"]
    settle(inpaint, qtbot)
    assert win.tabs.currentWidget() is inpaint
    assert inpaint.doc.picture is not None and inpaint.doc.label_text.startswith("frame of")
    assert inpaint.doc.image.shape == (16, 16, 1)


def test_a_users_diffusers_unet_opens_and_paints_in_the_panel(win, qtbot, tmp_path):
    from tests.models.test_diffusers_unet import tiny_unet

    tiny_unet(tmp_path / "my-unet", channels=3)
    p = win.show_panel("inpaint")
    settle(p, qtbot)
    p.register_checkpoint(str(tmp_path / "my-unet" / "config.json"))
    settle(p, qtbot)
    name = next(n for n in p.model_combo.names() if n != "tiny-diffusion")
    p.model_combo.select(name)
    assert p.doc.model == name and not p.class_combo.isEnabled()
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[..., 2] = 200
    p.set_picture(photo, "blue")
    settle(p, qtbot)
    assert p.doc.image.shape == (8, 8, 3) and np.allclose(p.doc.image[..., 2], 200 / 255,
                                                          atol=0.01)
    p.set_mask(mk.rectangle(mk.empty(8, 8), 0, 0, 7, 2), "top rows")
    p.steps_spin.setValue(4)
    p.run()
    settle(p, qtbot)
    entry = p.doc.current()
    assert entry is not None and entry.result.shape == (8, 8, 3)
    assert entry.options["model"] == name and entry.options["class"] == "none"
    assert np.allclose(entry.result[6:], p.doc.image[6:], atol=1e-6)   # beyond the feather


def test_the_panel_and_the_cli_read_a_picture_the_same_way(win, qtbot, tmp_path):
    """A 512 px colour photo: by default only centre-cropped and resized, as the CLI does
    (never framed into a padded glyph behind the user's back); "Frame as a glyph" is an
    explicit option, undoable, the same as the CLI's --frame-glyph."""
    p = win.show_panel("inpaint")
    settle(p, qtbot)
    rng = np.random.default_rng(3)
    photo = np.full((512, 512, 3), 235, np.uint8)
    photo[300:380, 60:120] = (30, 60, 200)                       # a small dark shape
    photo += rng.integers(0, 10, photo.shape, dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    assert p.frame_check.isVisible() and not p.frame_check.isChecked()
    p.open_file(str(path))
    settle(p, qtbot)
    plain = ip.read_pair(win.registry, p.doc.model, path, None)          # the CLI's way
    assert np.array_equal(p.doc.image, plain.image)
    p.frame_check.setChecked(True)
    settle(p, qtbot)
    framed = ip.read_pair(win.registry, p.doc.model, path, None, frame_glyph=True)
    assert np.array_equal(p.doc.image, framed.image)
    assert not np.array_equal(framed.image, plain.image)
    p.undo_stack.undo()
    settle(p, qtbot)
    assert not p.frame_check.isChecked() and np.array_equal(p.doc.image, plain.image)
