"""The Attributes panel over a tiny seeded VAE with directions fitted to planted labels."""

import numpy as np
import pytest
from PIL import Image

from models.image import directions as dm
from models.registry import Registry
from models.train.directions import directions_path
from studio.app import MainWindow
from studio.session import load_session, save_session
from tests.conftest import make_tiny_vae


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / "weights"
    make_tiny_vae(folder)
    make_tiny_vae(folder, "bare-vae", seed=3)                       # no directions
    reg = Registry(folder)
    info = reg.info("tiny-vae")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, info.latent_size))
    ds = dm.fit(z, {"bold": z[:, 0] + 0.5 * z[:, 1], "wide": z[:, 1] - z[:, 2]},
                n_principal=2)
    ds.save(directions_path(info))
    return folder


@pytest.fixture
def win(qtbot, weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_LIBRARY", str(tmp_path / "library.json"))
    w = MainWindow(registry=Registry(weights))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    w.close()


def settle(panel, qtbot):
    for _ in range(3):
        panel.ctx.jobs.wait_until_idle(20)
        qtbot.wait(20)


def bar_picture():
    rgb = np.full((48, 48, 3), 255, np.uint8)
    rgb[6:42, 20:28] = 0
    return rgb


@pytest.fixture
def panel(win, qtbot):
    p = win.show_panel("attributes")
    p.model_combo.select("tiny-vae")
    settle(p, qtbot)
    p.set_picture(bar_picture(), "bar")
    settle(p, qtbot)
    return p


def test_a_slider_moves_the_latent_along_its_direction_and_undo_takes_it_back(panel, qtbot):
    assert sorted(panel._rows) == ["bold", "pc1", "pc2", "wide"]
    assert not panel.fit_button.isVisible()
    base = panel.base_latent.copy()
    before = panel.after_view.image().copy()
    panel._rows["bold"][0].setValue(25)                 # 2.5 steps
    settle(panel, qtbot)
    ds = panel.directions
    assert np.allclose(panel.edited_latent, base + 2.5 * ds.vector("bold"), atol=1e-5)
    assert not np.array_equal(panel.after_view.image(), before)
    assert panel.after_view.caption == "bold +2.5"
    panel.undo_stack.undo()
    settle(panel, qtbot)
    assert panel.doc.amounts["bold"] == 0 and panel._rows["bold"][0].value() == 0
    assert np.allclose(panel.edited_latent, base)
    assert np.array_equal(panel.after_view.image(), before)


def test_hold_projects_the_held_direction_out(panel, qtbot):
    panel._rows["wide"][2].setChecked(True)
    panel._rows["bold"][0].setValue(20)
    settle(panel, qtbot)
    step = panel.edited_latent - panel.base_latent
    ds = panel.directions
    assert abs(float(step @ ds.get("wide").vector)) < 1e-4
    assert np.linalg.norm(step) == pytest.approx(2 * ds.get("bold").unit, rel=1e-4)
    panel.undo_stack.undo()                 # the slider
    panel.undo_stack.undo()                 # the hold
    assert panel.doc.holds == set() and not panel._rows["wide"][2].isChecked()


def test_strip_steps_and_picking_one(panel, qtbot):
    panel.strip_combo.setCurrentText("wide")
    panel.strip_steps.setCurrentIndex(0)                # 5 steps
    settle(panel, qtbot)
    assert panel.strip_latents.shape == (5, panel.base_latent.size)
    strip = panel.strip_view.image()
    assert strip is not None and strip.shape[1] > 4 * strip.shape[0]
    panel.use_strip_step(4)                             # +3.0
    settle(panel, qtbot)
    assert panel.doc.amounts["wide"] == pytest.approx(3.0)
    assert panel._rows["wide"][0].value() == 30


def test_keep_send_and_export(panel, qtbot, win, tmp_path):
    panel._rows["bold"][0].setValue(10)
    settle(panel, qtbot)
    panel.keep("bolder bar")
    latent_panel = win.panels["latent"]
    entry = latent_panel.library.entries["bolder bar"]
    assert entry["model"] == "tiny-vae" and entry["source"] == "Attributes"
    assert np.allclose(entry["latent"], panel.edited_latent, atol=1e-6)
    panel.to_latent_explorer()
    assert win.current_panel() is latent_panel
    out = tmp_path / "edited.png"
    panel.export_to(str(out))
    assert Image.open(out).size == (64 * 4, 64 * 4)
    from models.recipe import read_recipe
    from models.tasks import runner

    recipe = read_recipe(out)                 # the edited latent: the same file again
    assert recipe.task == "decode" and recipe.params["amounts"] == {"bold": 1.0}
    again = tmp_path / "again.png"
    runner.run(panel.ctx.registry, recipe, again)
    assert again.read_bytes() == out.read_bytes()
    assert win.history_dock.model.rowCount() == 1


def test_session_keeps_picture_amounts_and_holds(panel, qtbot, win, tmp_path):
    panel._rows["bold"][0].setValue(-15)
    panel._rows["wide"][2].setChecked(True)
    settle(panel, qtbot)
    edited = panel.edited_latent.copy()
    path = save_session(tmp_path / "s.lsession", {"attributes": panel.state()})
    panel.reset()
    panel.set_picture(np.zeros((20, 20, 3), np.uint8), "black")
    settle(panel, qtbot)
    panel.restore_state(load_session(path)["attributes"])
    settle(panel, qtbot)
    assert panel.doc.label == "bar" and panel.doc.amounts["bold"] == pytest.approx(-1.5)
    assert panel.doc.holds == {"wide"} and panel._rows["wide"][2].isChecked()
    assert np.allclose(panel.edited_latent, edited, atol=1e-5)


def test_a_model_without_directions_offers_to_fit_them(panel, qtbot):
    panel.model_combo.select("bare-vae")
    settle(panel, qtbot)
    assert panel.directions is None and panel._rows == {}
    assert panel.fit_button.isVisible()
    assert "no directions yet" in panel.status_label.text()


def test_a_stylegan2_pickle_gets_ganspace_sliders(win, qtbot, tmp_path):
    """Fit directions… on an NVIDIA pickle finds GANSpace directions in its own W; a slider
    moves every W+ row by the component's spread (screenshot under LATENT_STUDIO_SHOTS)."""
    import os

    from tests.models.test_stylegan_pkl import REFERENCE, write_pickle

    path = write_pickle(tmp_path / "faces.pkl", REFERENCE["skip"]["kwargs"], tmp_path / "ran")
    info = win.registry.add_checkpoint(path)
    win.resize(1200, 800)
    p = win.show_panel("attributes")
    p.backend_changed()
    p.model_combo.select(info.name)
    settle(p, qtbot)
    assert p.directions is None and p.fit_button.isVisible()
    p.fit()
    settle(p, qtbot)
    assert p.directions is not None and "pc1" in p._rows
    p.draw_sample()
    settle(p, qtbot)
    base = p.base_latent.copy()
    p._rows["pc1"][0].setValue(20)                      # +2 steps
    settle(p, qtbot)
    step = (p.edited_latent - base).reshape(6, 16)
    assert np.allclose(np.linalg.norm(step, axis=1), 2 * p.directions.get("pc1").unit /
                       np.sqrt(6), rtol=1e-3)
    shot = win.grab()
    if os.environ.get("LATENT_STUDIO_SHOTS"):
        shot.save(os.path.join(os.environ["LATENT_STUDIO_SHOTS"], "attributes-pickle.png"))
