"""The Latent Explorer on Stable Diffusion's VAE: photos at their own size (a tiny random
pipeline built by diffusers here)."""

import os

import numpy as np
import pytest

from models.image.latent_ops import interpolate
from studio.panels.latent import Slot
from tests.models import sd_tiny


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return sd_tiny.build(tmp_path_factory.mktemp("sd") / "photos-sd")


@pytest.fixture
def panel(window, tiny_sd, qtbot):
    window.resize(1000, 700)
    p = window.show_panel("latent")
    messages = []
    p.message.connect(messages.append)
    p.messages = messages
    p.open_file(str(tiny_sd))                   # a whole SD pipeline: its VAE drives the panel
    p.ctx.jobs.wait_until_idle(30)
    qtbot.waitUntil(lambda: p.model.startswith("photos-sd VAE"), timeout=5000)
    return p


def photo(h, w, seed=0):
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    a, b = np.random.default_rng(seed).random(2)
    img = np.stack([xx * a + 0.2, yy * b + 0.1, (xx + yy) * 0.3 + 0.2], -1)
    img[(xx - 0.4) ** 2 + (yy - 0.3) ** 2 < 0.04] = (0.9, 0.2, 0.1)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def fill(panel, index, slot):
    panel.set_active(index)
    panel.set_slot(index, slot)
    panel.ctx.jobs.wait_until_idle(30)


def test_photos_are_worked_at_the_first_ones_own_size(panel, qtbot):
    reg = panel.ctx.registry
    assert reg.info(panel.model).family == "sd-vae"
    assert panel.model_combo.currentData() == panel.model
    fill(panel, 1, Slot("image", "b", source=photo(50, 60, seed=1)))
    assert panel.working.endswith("@ 56x48")             # B alone: B's size (cut to 8s)
    fill(panel, 0, Slot("image", "a", source=photo(75, 100)))
    assert panel.working.endswith("@ 96x72")             # A's picture sets the size
    assert any("96x72" in m for m in panel.messages)
    # B was encoded again at A's size; its thumbnail is B as the model received it.
    assert panel.latent_of(1) is not None and len(panel.latent_of(1)) == 4 * 9 * 12
    assert panel.slot_views[1].image().shape == (72, 96, 3)
    with qtbot.waitSignal(panel.frame_shown, timeout=10000,
                          check_params_cb=lambda pos: pos == 300):
        panel.scrub_slider.setValue(300)
    backend = reg.get(panel.working)
    z = interpolate(panel.latent_of(0), panel.latent_of(1), 0.3, "slerp")
    expected = (backend.decode(z[None])[0] * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(panel.frame_view.image(), expected)
    # Undoing A (after the scrub) goes back to B's size.
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    assert panel.slots[0] is None
    panel.ctx.jobs.wait_until_idle(30)
    assert panel.working.endswith("@ 56x48") and len(panel.latent_of(1)) == 4 * 7 * 6


def test_seeds_alone_work_at_the_default_size_and_screenshot(panel, qtbot, tmp_path):
    fill(panel, 0, Slot("random", "s0", seed=0))
    assert panel.working.endswith("@ 512x512")
    fill(panel, 0, Slot("image", "a", source=photo(150, 200)))
    fill(panel, 1, Slot("image", "b", source=photo(120, 160, seed=3)))
    panel.scrub_slider.setValue(500)
    panel.ctx.jobs.wait_until_idle(30)
    qtbot.wait(50)
    assert panel.frame_view.image().shape == (144, 200, 3)
    shot = panel.window().grab()
    assert shot.save(str(tmp_path / "latent-sd-vae.png"))
    if os.environ.get("LATENT_STUDIO_SHOTS"):
        shot.save(os.path.join(os.environ["LATENT_STUDIO_SHOTS"], "latent-sd-vae.png"))


def test_the_picture_attributes_panel_leaves_models_of_any_size_out(panel, window):
    attrs = window.show_panel("attributes")
    attrs.backend_changed()
    names = [attrs.model_combo.itemData(i) for i in range(attrs.model_combo.count())]
    assert panel.model not in names and names
