"""The Style Mixer panel over a tiny seeded style generator."""

import numpy as np
import pytest
from PIL import Image

from models.registry import Registry
from models.tasks import stylemix as sm
from studio.app import MainWindow
from studio.state.stylemix import MixSource
from tests.conftest import make_tiny_diffusion, make_tiny_stylegen, make_tiny_vae


@pytest.fixture
def style_weights(tmp_path):
    folder = tmp_path / "weights"
    make_tiny_stylegen(folder)
    make_tiny_vae(folder)
    make_tiny_diffusion(folder)
    return folder


@pytest.fixture
def win(qtbot, style_weights):
    w = MainWindow(registry=Registry(style_weights))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.fixture
def panel(win):
    p = win.show_panel("stylemix")
    win.jobs.wait_until_idle(10)
    return p


def settle(panel, qtbot):
    qtbot.wait(30)                      # the render timer
    panel.ctx.jobs.wait_until_idle(10)
    qtbot.wait(10)


def filled(panel, qtbot, rows=(1, 2), cols=(3, 4, 5)):
    for s in rows:
        panel.add_seed("rows", s)
    for s in cols:
        panel.add_seed("cols", s)
    settle(panel, qtbot)


def expected_grid(panel, from_b, psi=1.0):
    reg = panel.ctx.registry
    codes = reg.get(panel.doc.model).codes_from_seeds([s.seed for s in panel.doc.rows]
                                                      + [s.seed for s in panel.doc.cols])
    n = len(panel.doc.rows)
    grid = sm.mix_grid(reg, panel.doc.model, codes[:n], codes[n:], from_b, psi=psi)
    return (np.clip(1 - grid, 0, 1) * 255 + 0.5).astype(np.uint8)[..., 0]


def test_the_grid_mixes_rows_and_columns_by_the_crossover(panel, qtbot):
    assert panel.doc.model == "tiny-stylegen"
    assert panel.doc.from_b == (2, 3, 4, 5)            # the model's style rows by default
    filled(panel, qtbot)
    assert panel.grid_rgb.shape == (2, 3, 16, 16, 3)
    assert np.array_equal(panel.grid_rgb[..., 0], expected_grid(panel, (2, 3, 4, 5)))
    assert np.array_equal(panel.cell_views[1][2].image(), panel.grid_rgb[1, 2])
    # A preset, then one layer box: each re-renders, each is one undo step.
    panel.apply_preset("coarse")
    settle(panel, qtbot)
    assert panel.doc.from_b == (0, 1, 2, 3)
    assert np.array_equal(panel.grid_rgb[..., 0], expected_grid(panel, (0, 1, 2, 3)))
    panel.layer_checks[5].setChecked(True)
    settle(panel, qtbot)
    assert panel.doc.from_b == (0, 1, 2, 3, 5)
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    settle(panel, qtbot)
    assert panel.doc.from_b == (2, 3, 4, 5) and panel.layer_checks[4].isChecked()
    assert np.array_equal(panel.grid_rgb[..., 0], expected_grid(panel, (2, 3, 4, 5)))


def test_fast_crossover_changes_end_on_the_last_one(panel, qtbot):
    filled(panel, qtbot)
    for k in range(6):
        panel.layer_checks[k].setChecked(not panel.layer_checks[k].isChecked())
    settle(panel, qtbot)
    assert np.array_equal(panel.grid_rgb[..., 0], expected_grid(panel, panel.doc.from_b))


def test_truncation_to_zero_makes_every_cell_the_mean(panel, qtbot):
    filled(panel, qtbot)
    panel.psi_slider.setValue(0)
    settle(panel, qtbot)
    cells = panel.grid_rgb.reshape(-1, 16, 16, 3)
    assert all(np.array_equal(c, cells[0]) for c in cells)
    panel.cutoff_spin.setValue(2)                      # only rows 0-1 truncated
    settle(panel, qtbot)
    cells = panel.grid_rgb.reshape(-1, 16, 16, 3)
    assert not all(np.array_equal(c, cells[0]) for c in cells)


def test_noise_seed_and_strength_change_the_cells(panel, qtbot):
    filled(panel, qtbot, rows=(1,), cols=(2,))
    plain = panel.grid_rgb.copy()
    panel.noise_check.setChecked(True)
    for spin in panel.strength_spins:
        spin.setValue(10.0)
    settle(panel, qtbot)
    noisy = panel.grid_rgb.copy()
    panel.noise_seed_spin.setValue(5)
    settle(panel, qtbot)
    assert not np.array_equal(plain, noisy) and not np.array_equal(noisy, panel.grid_rgb)


def test_write_in_this_style_and_its_errors(panel, qtbot, win):
    rng = np.random.default_rng(0)
    panel.add_picture("style", (rng.random((16, 16, 3)) * 255).astype(np.uint8), "glyph")
    panel.text_edit.setText("ab ba")
    qtbot.wait(200)
    settle(panel, qtbot)
    assert panel.line is not None and panel.line.shape[0] == 16
    assert panel.line_view.image().shape[1] > 16 * 2
    full = panel.line.copy()
    panel.strength_slider.setValue(0)                 # the mean font
    qtbot.wait(200)
    settle(panel, qtbot)
    assert panel.doc.style_strength == 0.0 and not np.array_equal(panel.line, full)
    panel.undo_stack.undo()
    qtbot.wait(200)
    settle(panel, qtbot)
    assert np.array_equal(panel.line, full)
    errors = []
    panel.error.connect(lambda m, _d: errors.append(m))
    panel.text_edit.setText("az")
    qtbot.wait(200)
    settle(panel, qtbot)
    assert errors and "cannot write 'z'" in errors[-1]


def test_export_keep_and_send_a_cell(panel, qtbot, win, tmp_path):
    filled(panel, qtbot)
    out = tmp_path / "grid.png"
    panel.export(str(out))
    # Headers and cells, 2-pixel lines, 4 times larger.
    assert Image.open(out).size == (4 * (4 * 16 + 5 * 2), 4 * (3 * 16 + 4 * 2))
    pic = np.asarray(Image.open(out).convert("RGB"))[::4, ::4]
    assert np.array_equal(pic[2 + 18:2 + 18 + 16, 2 + 18:2 + 18 + 16], panel.grid_rgb[0, 0])
    panel.doc.select((1, 2))
    name = panel.keep_cell("my mix")
    entry = panel.library.entries[name]
    assert entry["model"] == "tiny-stylegen" and len(entry["latent"]) == 6 * 8
    panel.send_cell_to_latent()
    latent = win.panels["latent"]
    assert latent.model == "tiny-stylegen"
    np.testing.assert_allclose(latent.slots[latent.active].latent,
                               panel.cell_codes().reshape(-1), atol=1e-6)
    panel.send_cell_to_inpainting()
    inpaint = win.panels["inpaint"]
    inpaint.ctx.jobs.wait_until_idle(10)
    assert win.tabs.currentWidget() is inpaint and inpaint.doc.label_text == "A2×B3"
    assert np.array_equal(inpaint.doc.picture, panel.grid_rgb[1, 2])


def test_a_library_latent_of_another_model_is_refused(panel, qtbot):
    errors = []
    panel.error.connect(lambda m, _d: errors.append(m))
    panel.add_source("rows", MixSource("latent", "vae one", latent=np.zeros(4, np.float32),
                                       model="tiny-vae"))
    panel.add_seed("cols", 1)
    settle(panel, qtbot)
    assert errors and "latent of tiny-vae" in errors[-1]


def test_the_session_keeps_the_panel(panel, qtbot, style_weights, tmp_path):
    filled(panel, qtbot)
    panel.apply_preset("fine")
    panel.psi_slider.setValue(70)
    rng = np.random.default_rng(1)
    panel.add_picture("rows", (rng.random((20, 20, 3)) * 255).astype(np.uint8), "pic")
    settle(panel, qtbot)
    before = panel.grid_rgb.copy()
    state = panel.state()
    from studio.session import load_session, save_session

    path = save_session(tmp_path / "s.lsession", {"stylemix": state})
    other = MainWindow(registry=Registry(style_weights))
    qtbot.addWidget(other)
    again = other.panels["stylemix"]
    again.restore_state(load_session(path)["stylemix"])
    settle(again, qtbot)
    assert again.doc.from_b == panel.doc.from_b and again.doc.psi == pytest.approx(0.7)
    assert [s.label for s in again.doc.rows] == [s.label for s in panel.doc.rows]
    assert np.array_equal(again.grid_rgb, before)
    other.close()


def test_switching_to_a_model_with_fewer_layers_keeps_a_valid_crossover(qtbot, tmp_path):
    folder = tmp_path / "w"
    make_tiny_stylegen(folder)
    # A second style generator of 8 layers (32 px): a crossover of rows 6-7 fits only it.
    import torch

    from models.checkpoints import save_checkpoint
    from models.image.stylegen import StyleAutoencoder, StyleGenConfig, config_to_card
    from models.train.stylegen import encode_all, fit_char_content, fit_sampler

    torch.manual_seed(1)
    cfg = StyleGenConfig(image_size=32, channels=1, w_dim=8, width=4, max_width=8,
                         enc_hidden=16, pca_dim=4, mixture=2, chars="ab")
    net = StyleAutoencoder(cfg).eval()
    pics = (np.random.default_rng(0).random((20, 32, 32, 1)) * 255).astype(np.uint8)
    codes = encode_all(net, pics, "cpu")
    fit_sampler(net, codes, iters=3)
    fit_char_content(net, codes[:8].view(4, 2, *codes.shape[1:]))
    save_checkpoint(folder / "wide.safetensors", net.state_dict(),
                    {"family": "stylegen", "config": config_to_card(cfg)})
    w = MainWindow(registry=Registry(folder))
    qtbot.addWidget(w)
    p = w.show_panel("stylemix")
    p.apply_param("model", "wide")
    p.set_crossover((6, 7))
    filled(p, qtbot, rows=(1,), cols=(2,))
    errors = []
    p.error.connect(lambda m, _d: errors.append(m))
    p.apply_param("model", "tiny-stylegen")
    settle(p, qtbot)
    assert not errors and p.doc.from_b and max(p.doc.from_b) < 6
    assert p.grid_rgb.shape == (1, 1, 16, 16, 3)
    w.close()


def test_an_nvidia_stylegan2_pickle_mixes_in_the_panel(win, qtbot, tmp_path):
    """A network pickle in NVIDIA's format (written by the tests, read as data) drives the
    grid at its own size with its own rows; the screenshot is kept under LATENT_STUDIO_SHOTS."""
    import os

    from tests.models.test_stylegan_pkl import REFERENCE, write_pickle

    path = write_pickle(tmp_path / "ffhq-tiny.pkl", REFERENCE["skip"]["kwargs"],
                        tmp_path / "ran.txt")
    p = win.show_panel("stylemix")
    win.resize(1200, 800)
    p.open_file(str(path))                     # a dropped pickle is chosen at once
    win.jobs.wait_until_idle(30)
    qtbot.waitUntil(lambda: p.doc.model.startswith("ffhq-tiny"), timeout=5000)
    names = [p.doc.model]
    p.apply_preset("coarse")
    filled(p, qtbot, rows=(0, 7), cols=(42, 3, 5))
    assert p.doc.from_b == (0, 1, 2)                    # 4 and 8 px rows of a 16 px model
    reg = p.ctx.registry
    codes = reg.get(names[0]).codes_from_seeds([0, 7, 42, 3, 5])
    grid = sm.mix_grid(reg, names[0], codes[:2], codes[2:], (0, 1, 2))
    assert p.grid_rgb.shape == (2, 3, 16, 16, 3)
    assert np.array_equal(p.grid_rgb, (grid * 255 + 0.5).astype(np.uint8))
    assert not (tmp_path / "ran.txt").exists()
    shot = win.grab()
    if os.environ.get("LATENT_STUDIO_SHOTS"):
        shot.save(os.path.join(os.environ["LATENT_STUDIO_SHOTS"], "stylemix-pickle.png"))


def test_a_conditional_pickle_draws_its_seeds_of_the_chosen_class(win, qtbot, tmp_path):
    from tests.models.test_stylegan_pkl import REFERENCE, write_pickle

    path = write_pickle(tmp_path / "cond.pkl", REFERENCE["resnet-cond"]["kwargs"],
                        tmp_path / "ran.txt")
    p = win.show_panel("stylemix")
    p.open_file(str(path))
    win.jobs.wait_until_idle(30)
    qtbot.waitUntil(lambda: p.doc.model.startswith("cond"), timeout=5000)
    assert p.class_spin.isVisibleTo(p) and p.class_spin.maximum() == 2
    filled(p, qtbot, rows=(4,), cols=(5,))
    b = p.ctx.registry.get(p.doc.model)
    before = p.grid_rgb.copy()
    p.class_spin.setValue(2)
    settle(p, qtbot)
    codes = b.codes_from_seeds([4, 5], label=2)
    grid = sm.mix_grid(p.ctx.registry, p.doc.model, codes[:1], codes[1:], p.doc.from_b)
    assert np.array_equal(p.grid_rgb, (grid * 255 + 0.5).astype(np.uint8))
    assert not np.array_equal(p.grid_rgb, before)
    p.undo_stack.undo()                                  # the class is one undo step
    settle(p, qtbot)
    assert p.doc.label == 0 and np.array_equal(p.grid_rgb, before)
