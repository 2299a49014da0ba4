"""Recipes in the window: a panel's export replays byte-identical, dropping an output opens
its panel with every control restored, another tool's parameters text fills the controls,
and every result goes into the History dock (SQLite, kept across windows)."""

import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from models.history import History, default_path
from models.image import masks as mk
from models.recipe import read_recipe
from models.registry import Registry
from models.tasks import runner
from studio.app import MainWindow
from studio.state.latent import Slot
from tests.conftest import make_inpaint_weights, make_tiny_diffusion
from tests.models import sd_tiny


def settle(panel, qtbot, timeout=30):
    panel.ctx.jobs.wait_until_idle(timeout)
    qtbot.wait(20)


def bar_picture():
    rgb = np.full((48, 48, 3), 255, np.uint8)
    rgb[6:42, 20:28] = 0
    return rgb


@pytest.fixture
def weights(tmp_path):
    return make_inpaint_weights(tmp_path / "weights")


def window(qtbot, weights):
    w = MainWindow(registry=Registry() if weights == "shipped" else Registry(weights))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    return w


def test_a_panel_result_replays_byte_identical_and_reopens_with_its_settings(
        qtbot, weights, tmp_path):
    win = window(qtbot, weights)
    panel = win.show_panel("inpaint")
    settle(panel, qtbot)
    panel.set_picture(bar_picture(), "bar")
    settle(panel, qtbot)
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(5)
    panel.class_combo.setCurrentIndex(2)
    panel.guidance_spin.setValue(2.0)
    panel.seed_spin.setValue(7)
    panel.run()
    settle(panel, qtbot)
    out = tmp_path / "result.png"
    panel.export(str(out))
    recipe = read_recipe(out)
    assert recipe.task == "inpaint" and recipe.params["seed"] == 7
    assert recipe.params["label"] == 1 and recipe.arrays["mask"].shape == (16, 16)
    assert (tmp_path / "result.png.recipe.npz").is_file() or recipe.arrays["image"].size <= 4096
    again = tmp_path / "again.png"                      # 'latent-studio replay' does this
    runner.run(Registry(weights), recipe, again)
    assert again.read_bytes() == out.read_bytes()
    # The history has it, at once and in the database.
    dock = win.history_dock
    assert dock.model.rowCount() == 1 and len(History(default_path())) == 1
    win.close()

    fresh = window(qtbot, weights)                      # a new window; drop the output on it
    fresh.show_panel("latent")
    fresh.open_file(str(out))
    p = fresh.panels["inpaint"]
    settle(p, qtbot)
    assert fresh.current_panel() is p
    d = p.doc
    assert (d.seed, d.steps, d.label, d.guidance) == (7, 5, 1, 2.0)
    assert d.image is not None and np.array_equal(d.mask, recipe.arrays["mask"])
    assert np.array_equal(d.image, recipe.arrays["image"])
    assert fresh.history_dock.model.rowCount() == 1     # the earlier window's result
    p.run()                                             # run again: the same picture
    settle(p, qtbot)
    rerun = tmp_path / "rerun.png"
    p.export(str(rerun))
    assert np.array_equal(np.asarray(Image.open(rerun)), np.asarray(Image.open(out)))
    assert fresh.history_dock.model.rowCount() == 2
    fresh.close()


def test_history_filters_stars_deletes_and_opens(qtbot, weights, tmp_path, monkeypatch):
    from models.history import thumbnail
    from models.recipe import Recipe

    hist = History(default_path())
    for k in range(30):
        r = Recipe.of("generate" if k % 2 else "inpaint",
                      {"prompt": f"a red house {k}" if k % 2 else "", "seed": k},
                      inputs={})
        r.model = {"name": "sd-x" if k % 2 else "tiny-diffusion"}
        hist.add("Inpainting", r, thumbnail(rgb=np.full((16, 16, 3), k * 8, np.uint8)))
    hist.add("Spectrogram", Recipe.of("vocode", {}), thumbnail(audio=np.sin(np.arange(800))),
             kind="sound")
    hist.close()
    win = window(qtbot, weights)
    dock = win.history_dock
    assert dock.model.rowCount() == 31
    dock.panel_combo.setCurrentText("Spectrogram")
    assert dock.model.rowCount() == 1
    dock.panel_combo.setCurrentIndex(0)
    dock.filter_edit.setText("house 2")
    assert {e.text for e in dock.model.rows} == {"a red house 21", "a red house 23",
                                                 "a red house 25", "a red house 27",
                                                 "a red house 29"}
    dock.filter_edit.setText("")
    dock.model_combo.setCurrentText("tiny-diffusion")
    assert dock.model.rowCount() == 15
    dock.view.setCurrentIndex(dock.model.index(0))
    dock.star_selected()
    dock.starred_check.setChecked(True)
    assert dock.model.rowCount() == 1 and dock.model.rows[0].starred
    icon = dock.model.data(dock.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert not icon.isNull()
    dock.view.setCurrentIndex(dock.model.index(0))
    dock.copy_selected()
    assert json.loads(QGuiApplication.clipboard().text())["task"] == "inpaint"
    dock.delete_selected()
    assert dock.model.rowCount() == 0
    assert len(History(default_path())) == 30
    # "Show the inputs": their folder in the file manager (none for a panel's own picture).
    from PySide6.QtGui import QDesktopServices

    shown = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: shown.append(url.toLocalFile()))
    pic = tmp_path / "in" / "a.png"
    pic.parent.mkdir()
    Image.new("RGB", (4, 4)).save(pic)
    hist = History(default_path())
    hist.add("Inpainting", Recipe.of("reconstruct", {}, inputs={"picture": pic}),
             thumbnail(rgb=np.zeros((4, 4, 3), np.uint8)))
    hist.close()
    dock.starred_check.setChecked(False)
    dock.model_combo.setCurrentIndex(0)
    dock.refresh()
    dock.view.setCurrentIndex(dock.model.index(0))
    assert dock.show_inputs() == [str(pic.parent)] and shown == [str(pic.parent)]
    dock.view.setCurrentIndex(dock.model.index(1))
    assert dock.show_inputs() == []
    win.close()


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return sd_tiny.build(tmp_path_factory.mktemp("sd") / "inpainter", in_channels=9)


def test_another_tools_parameters_fill_the_controls(qtbot, tmp_path, tiny_sd):
    make_tiny_diffusion(tmp_path / "weights")
    win = window(qtbot, tmp_path / "weights")
    p = win.show_panel("inpaint")
    name = win.registry.add_checkpoint(tiny_sd).name
    p.backend_changed()
    p.model_combo.select(name)
    settle(p, qtbot)
    text = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry, text\n"
            "Steps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, "
            "Seed: 424242, Size: 64x96, Model hash: 0123abcd, Model: v1-5, Clip skip: 2")
    QGuiApplication.clipboard().setText(text)           # pasted in the prompt box
    p.prompt_combo.lineEdit().setFocus()
    qtbot.keyClick(p.prompt_combo.lineEdit(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    d = p.doc
    assert d.prompt == "a lighthouse at dusk, oil painting" and d.negative == "blurry, text"
    assert (d.steps, d.scheduler, d.guidance, d.seed) == (12, "dpm++2m-karras", 5.5, 424242)
    assert (d.width, d.height) == (64, 96) and d.lock_seed
    p.undo_stack.undo()                                  # one undo step
    assert d.prompt != "a lighthouse at dusk, oil painting" and d.steps != 12
    # A picture another tool made, dropped on the window: its settings and the picture.
    other = tmp_path / "a1111.png"
    meta = PngInfo()
    meta.add_text("parameters", text)
    Image.fromarray(np.full((48, 40, 3), 90, np.uint8)).save(other, pnginfo=meta)
    win.show_panel("latent")
    win.open_file(str(other))
    settle(p, qtbot)
    assert win.current_panel() is p and d.seed == 424242 and d.image.shape == (48, 40, 3)
    # Our own Stable Diffusion result: its parameters text, and a recipe that reopens it.
    p.steps_spin.setValue(2)
    p.run()
    settle(p, qtbot, 60)
    out = tmp_path / "sd.png"
    p.export(str(out))
    img = Image.open(out)
    assert "Sampler: DPM++ 2M Karras" in img.text["parameters"]
    assert "Seed: 424242" in img.text["parameters"]
    (tmp_path / "replay").mkdir()        # as 'replay --check' does: the same name (the
    again = tmp_path / "replay" / "sd.png"   # recipe names its sidecar .npz by it)
    reg = Registry(tmp_path / "weights")
    reg.add_checkpoint(tiny_sd)
    runner.run(reg, read_recipe(out), again)
    assert again.read_bytes() == out.read_bytes()
    win.close()


def test_a_style_mixer_grid_replays_and_reopens_with_its_rows_and_columns(qtbot, tmp_path):
    from tests.conftest import make_tiny_stylegen

    folder = tmp_path / "weights"
    make_tiny_stylegen(folder)
    win = window(qtbot, folder)
    p = win.show_panel("stylemix")
    win.jobs.wait_until_idle(10)
    for s in (1, 2):
        p.add_seed("rows", s)
    for s in (3, 4, 5):
        p.add_seed("cols", s)
    p.set_crossover((0, 1, 2))
    p.push_param("psi", p.doc.psi, 0.7)
    qtbot.wait(30)
    settle(p, qtbot)
    out = tmp_path / "grid.png"
    p.export(str(out))
    recipe = read_recipe(out)
    assert recipe.task == "stylemix-grid" and recipe.arrays["a"].shape[0] == 2
    assert recipe.params["from_b"] == [0, 1, 2] and recipe.params["psi"] == 0.7
    again = tmp_path / "again.png"
    runner.run(Registry(folder), recipe, again)
    assert again.read_bytes() == out.read_bytes()
    assert win.history_dock.model.rowCount() == 1
    shown = p.grid_rgb.copy()
    win.close()

    fresh = window(qtbot, folder)
    fresh.open_file(str(out))
    q = fresh.panels["stylemix"]
    qtbot.wait(30)
    settle(q, qtbot)
    qtbot.wait(30)
    settle(q, qtbot)
    assert fresh.current_panel() is q
    assert len(q.doc.rows) == 2, fresh.status.error_label.text()
    assert len(q.doc.cols) == 3 and q.doc.from_b == (0, 1, 2)
    assert q.doc.psi == 0.7 and np.array_equal(q.grid_rgb, shown)
    fresh.close()


def test_a_latent_morph_replays_and_reopens_with_its_ends(qtbot, tmp_path, tiny_weights):
    win = window(qtbot, tiny_weights)
    p = win.show_panel("latent")
    win.jobs.wait_until_idle(10)
    p.set_slot(0, Slot("random", "seed 3", seed=3))
    p.set_slot(1, Slot("random", "seed 8", seed=8))
    settle(p, qtbot)
    out = tmp_path / "walk.gif"
    p.export_to(str(out), "gif")
    settle(p, qtbot)
    recipe = read_recipe(out)
    assert recipe.task == "interpolate" and recipe.arrays["a"].shape == (4,)
    again = tmp_path / "again.gif"
    runner.run(Registry(tiny_weights), recipe, again)
    assert again.read_bytes() == out.read_bytes()
    assert win.history_dock.model.rowCount() == 1
    a, b = p.latent_of(0).copy(), p.latent_of(1).copy()
    win.close()

    fresh = window(qtbot, tiny_weights)
    fresh.open_file(str(out))
    q = fresh.panels["latent"]
    settle(q, qtbot)
    settle(q, qtbot)
    assert fresh.current_panel() is q
    assert np.array_equal(q.latent_of(0), a) and np.array_equal(q.latent_of(1), b)
    fresh.close()


def test_a_vocoded_take_carries_its_recipe_and_replays_byte_identical(qtbot, tmp_path):
    import soundfile as sf

    win = window(qtbot, "shipped")
    p = win.show_panel("spectral")
    p.set_vocoder("vocoder-speech")
    t = np.arange(int(0.8 * 44100)) / 44100
    p.load_audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
    p.vocode()
    assert win.jobs.wait_until_idle(60)
    paths = p.export_to(str(tmp_path / "take.wav"))
    vocoded = paths[-1]
    recipe = read_recipe(vocoded)
    assert recipe.task == "vocode-mel" and recipe.params["source_rate"] == 44100
    assert sf.info(vocoded).samplerate == 44100
    (tmp_path / "replay").mkdir()
    again = tmp_path / "replay" / vocoded.name
    runner.run(Registry(), recipe, again)
    assert again.read_bytes() == vocoded.read_bytes()
    dock = win.history_dock
    assert dock.model.rowCount() == 1 and dock.model.rows[0].kind == "sound"
    win.close()


def test_a_sweep_from_a_panel_runs_in_the_long_lane_and_exports_a_replayable_grid(
        qtbot, weights, tmp_path):
    win = window(qtbot, weights)
    panel = win.show_panel("inpaint")
    settle(panel, qtbot)
    assert win.open_sweep() is None and "first" in win.status.error_label.text()
    panel.set_picture(bar_picture(), "bar")
    settle(panel, qtbot)
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(3)
    panel.run()
    settle(panel, qtbot)
    dlg = win.open_sweep()
    assert "seed" in [dlg.rows[0][0].itemText(i) for i in range(dlg.rows[0][0].count())]
    dlg.set_axis(0, "seed", "1,2,3")
    dlg.set_axis(1, "steps", "2,4")
    assert dlg.run()
    assert win.jobs.lane_of["sweep"] == "long"
    settle(panel, qtbot, 60)
    qtbot.wait(50)
    assert len(dlg.made) == 6 and dlg.export_button.isEnabled()
    cell = read_recipe(dlg.made[4][1])                  # x fastest: seed=2, steps=4
    assert dlg.made[4][0] == ("2", "4")
    assert (cell.params["seed"], cell.params["steps"]) == (2, 4)
    out = dlg.export_grid(str(tmp_path / "grid.png"))
    assert read_recipe(out).task == "sweep"
    (tmp_path / "replay").mkdir()
    runner.run(Registry(weights), read_recipe(out), tmp_path / "replay" / "grid.png")
    assert (tmp_path / "replay" / "grid.png").read_bytes() == out.read_bytes()
    (tmp_path / "cells").mkdir()                        # the cells kept, with their recipes
    saved = dlg.save_cells(str(tmp_path / "cells"))
    assert len(saved) == 6 and read_recipe(saved[4]).params["seed"] == 2
    dlg.open_cell(dlg.made[4][1])                       # a cell opens in its panel
    settle(panel, qtbot)
    assert (panel.doc.seed, panel.doc.steps) == (2, 4)
    bad = win.open_sweep()
    bad.set_axis(0, "steps", "two,3")
    assert not bad.run() and "steps takes a number, not 'two'" in bad.note.text()
    bad.close()
    dlg.close()
    win.close()


def test_history_sends_a_result_on_and_reuses_its_seed(qtbot, weights):
    win = window(qtbot, weights)
    panel = win.show_panel("inpaint")
    settle(panel, qtbot)
    panel.set_picture(bar_picture(), "bar")
    settle(panel, qtbot)
    panel.set_mask(mk.rectangle(mk.empty(16, 16), 0, 0, 15, 6), "top")
    panel.steps_spin.setValue(3)
    panel.seed_spin.setValue(11)
    panel.run()
    settle(panel, qtbot)
    shown = panel._shown(panel.doc.current().result)
    dock = win.history_dock
    dock.view.setCurrentIndex(dock.model.index(0))
    panel.seed_spin.setValue(99)
    dock.reuse_selected()
    assert panel.doc.seed == 11
    dock.send_selected("evaluation")                    # made again, as a folder
    settle(panel, qtbot)
    ev = win.panels["evaluation"]
    assert win.current_panel() is ev and ev.dir_a_edit.text()
    got = next(iter(__import__("pathlib").Path(ev.dir_a_edit.text()).glob("*.png")))
    again = np.asarray(Image.open(got).convert("RGB"))
    assert again.shape[0] == 16 * 4 and np.array_equal(again[::4, ::4], shown)
    win.close()


def test_a_dropped_output_whose_inputs_moved_asks_for_them(qtbot, weights, tmp_path,
                                                           monkeypatch):
    from models.recipe import Recipe

    reg = Registry(weights)
    pic, mask = tmp_path / "bar.png", tmp_path / "mask.png"
    Image.fromarray(bar_picture()).save(pic)
    m = np.zeros((48, 48), np.uint8)
    m[:20] = 255
    Image.fromarray(m).save(mask)
    params = {"sampler": "ddim", "steps": 3, "repaint": "none", "guidance": 1.0,
              "label": None, "seed": 4, "feather": 1.5, "frame_glyph": False, "scale": 1}
    recipe = Recipe.of("inpaint", params, model_info=reg.info("tiny-diffusion"),
                       inputs={"picture": pic, "mask": mask})
    out = tmp_path / "out.png"
    runner.run(reg, recipe, out)
    moved = tmp_path / "moved"
    moved.mkdir()
    pic.rename(moved / "bar.png")
    win = window(qtbot, weights)
    asked = []
    monkeypatch.setattr(win, "ask_for_file",
                        lambda ref, why: asked.append(why) or str(moved / "bar.png"))
    win.open_file(str(out))
    p = win.panels["inpaint"]
    settle(p, qtbot)
    assert asked and "bar.png: missing" in asked[0]
    assert p.doc.seed == 4 and p.doc.steps == 3 and p.doc.image is not None
    assert p.doc.mask[:5].mean() == 1.0 and p.doc.mask[-5:].max() == 0.0
    monkeypatch.setattr(win, "ask_for_file", lambda ref, why: "")   # not found: nothing
    p.seed_spin.setValue(9)
    win.open_file(str(out))
    settle(p, qtbot)
    assert win.status.error_label.text().startswith("Not restored: picture")
    assert p.doc.seed == 9
    (moved / "bar.png").rename(pic)                      # back; the mask changed: said
    Image.fromarray(255 - m).save(mask)
    win.open_file(str(out))
    settle(p, qtbot)
    assert p.doc.seed == 4
    assert "Restored, but mask" in win.status.error_label.text()
    assert "its content has changed" in win.status.error_label.text()
    win.close()


def test_a_recipes_model_not_registered_is_opened_from_its_path(qtbot, weights, tmp_path):
    from models.recipe import Recipe
    from tests.conftest import make_inpaint_weights

    other = make_inpaint_weights(tmp_path / "elsewhere")
    reg = Registry(other)
    pic = tmp_path / "bar.png"
    Image.fromarray(bar_picture()).save(pic)
    mask = tmp_path / "m.png"
    Image.fromarray(np.full((48, 48), 255, np.uint8)).save(mask)
    params = {"sampler": "ddim", "steps": 2, "repaint": "none", "guidance": 1.0,
              "label": None, "seed": 6, "feather": 1.5, "frame_glyph": False, "scale": 1}
    recipe = Recipe.of("inpaint", params, model_info=reg.info("tiny-diffusion"),
                       inputs={"picture": pic, "mask": mask})
    out = tmp_path / "out.png"
    runner.run(reg, recipe, out)
    win = window(qtbot, weights)                     # its own tiny-diffusion is another file
    win.open_file(str(out))
    p = win.panels["inpaint"]
    settle(p, qtbot)
    settle(p, qtbot)
    info = win.registry.info(p.doc.model)
    assert str(info.path).startswith(str(other)) and p.doc.model != "tiny-diffusion"
    assert p.model_combo.current_name == p.doc.model and p.doc.seed == 6
    win.close()


def test_a_recipe_json_of_a_newer_studio_is_restored_as_far_as_it_goes(qtbot, weights,
                                                                        tmp_path):
    from models.recipe import Recipe

    reg = Registry(weights)
    params = {"sampler": "ddim", "steps": 4, "repaint": "none", "guidance": 1.0,
              "label": None, "seed": 12, "feather": 1.5, "scale": 1}
    recipe = Recipe.of("inpaint", params, model_info=reg.info("tiny-diffusion"),
                       arrays={"image": np.zeros((16, 16, 1), np.float32),
                               "mask": np.ones((16, 16), np.float32)})
    doc = recipe.to_json()
    doc["version"] = 7
    doc["params"]["a_setting_of_later"] = True
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    win = window(qtbot, weights)
    win.open_file(str(path))
    p = win.panels["inpaint"]
    settle(p, qtbot)
    assert win.current_panel() is p and p.doc.seed == 12 and p.doc.steps == 4
    assert "newer Latent Studio (version 7" in win.status.error_label.text()
    win.close()


def test_a_vocode_output_reopens_its_recording_with_its_vocoder(qtbot, tmp_path):
    import soundfile as sf

    from models.recipe import Recipe

    reg = Registry()
    clip = tmp_path / "take.wav"
    t = np.arange(8000) / 16000
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    recipe = Recipe.of("vocode", {"params": {"iters": 5}}, model_info=reg.info("griffinlim"),
                       inputs={"audio": clip})
    out = tmp_path / "v.wav"
    runner.run(reg, recipe, out)
    win = window(qtbot, "shipped")
    win.open_file(str(out))
    p = win.panels["spectral"]
    settle(p, qtbot)
    settle(p, qtbot)
    assert win.current_panel() is p and p.vocoder_name == "griffinlim"
    assert p.params.values()["iters"] == 5 and p.original.size == 8000
    win.close()
