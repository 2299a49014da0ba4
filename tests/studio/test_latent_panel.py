import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from models.image.latent_ops import bilinear, interpolate
from studio.panels.latent import SCRUB_MAX, Slot


@pytest.fixture
def panel(window):
    p = window.show_panel("latent")
    window.jobs.wait_until_idle(10)
    return p


def fill(panel, index, slot):
    panel.set_active(index)
    panel.set_slot(index, slot)
    panel.ctx.jobs.wait_until_idle(10)


def test_model_switcher_lists_latent_models(panel):
    names = [panel.model_combo.itemData(i) for i in range(panel.model_combo.count())]
    assert names == ["tiny-rgb", "tiny-vae"] and panel.model == "tiny-rgb"


def test_scrub_shows_the_frame_of_the_slider(panel, qtbot):
    fill(panel, 0, Slot("random", "s0", seed=0))
    fill(panel, 1, Slot("random", "s1", seed=1))
    with qtbot.waitSignal(panel.frame_shown, timeout=5000,
                          check_params_cb=lambda pos: pos == 700):
        panel.scrub_slider.setValue(700)
    backend = panel.ctx.registry.get(panel.model)
    z = interpolate(panel.latent_of(0), panel.latent_of(1), 0.7, "slerp")
    expected = (backend.decode(z[None])[0] * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(panel.frame_view.image(), expected)
    # The strip beneath has one frame per step, ending at B.
    visible = [v for v in panel.strip_views if v.isVisibleTo(panel)]
    assert len(visible) == panel.steps == 8
    end = (backend.decode(panel.latent_of(1)[None])[0] * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(visible[-1].image(), end)


def test_dragging_fast_shows_only_the_newest_frame(panel, qtbot):
    fill(panel, 0, Slot("random", "s0", seed=0))
    fill(panel, 1, Slot("random", "s1", seed=1))
    shown = []
    panel.frame_shown.connect(shown.append)
    panel.scrub_slider.setSliderDown(True)
    for v in range(0, SCRUB_MAX + 1, 10):
        panel.scrub_slider.setValue(v)
    panel.scrub_slider.setSliderDown(False)
    qtbot.waitUntil(lambda: bool(shown) and shown[-1] == SCRUB_MAX, timeout=5000)
    assert len(shown) < 101  # stale frames were dropped, not queued
    # The whole drag is one undo step.
    panel.undo_stack.undo()
    assert panel.scrub == SCRUB_MAX // 2


def test_images_from_files_with_a_note_and_clear_errors(panel, qtbot, tmp_path):
    Image.new("RGB", (200, 100), (250, 20, 20)).save(tmp_path / "wide.jpg")
    messages, errors = [], []
    panel.message.connect(messages.append)
    panel.error.connect(lambda m, d: errors.append(m))
    panel.set_active(2)
    panel.open_file(str(tmp_path / "wide.jpg"))
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.slots[2].kind == "image" and panel.latent_of(2) is not None
    assert any("center-cropped 200x100" in m for m in messages)
    (tmp_path / "empty.png").write_bytes(b"")
    panel.open_file(str(tmp_path / "empty.png"))
    panel.ctx.jobs.wait_until_idle(10)
    assert errors and "empty" in errors[-1]
    assert panel.slots[2].label == "wide"  # the slot kept what it had


def test_paste_from_clipboard(panel, qtbot):
    from studio.widgets.image_view import to_qimage

    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:, :20] = 255
    QGuiApplication.clipboard().setImage(to_qimage(rgb))
    panel.set_active(1)
    panel.paste()
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.slots[1].kind == "image" and panel.latent_of(1) is not None
    assert panel.slots[1].source.shape == (30, 40, 3)


def test_pad_blends_four_corners(panel, qtbot):
    for i in range(4):
        fill(panel, i, Slot("random", f"s{i}", seed=10 + i))
    panel.pad.set_position(0.25, 0.75)
    panel._on_pad_moved(0.25, 0.75)
    panel.ctx.jobs.wait_until_idle(10)
    zs = np.stack([panel.latent_of(i) for i in range(4)])
    backend = panel.ctx.registry.get(panel.model)
    expected = (backend.decode(bilinear(zs, 0.25, 0.75)[None])[0] * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(panel.pad_view.image(), expected)


def test_arithmetic_and_library_round_trip(panel, qtbot, monkeypatch):
    for i in range(3):
        fill(panel, i, Slot("random", f"s{i}", seed=i))
    panel.compute_arithmetic()
    panel.ctx.jobs.wait_until_idle(10)
    z = panel.latent_of(0) - panel.latent_of(1) + panel.latent_of(2)
    assert np.allclose(panel.arith_latent, z)
    name = panel.keep_latent("bold g", panel.arith_latent, "A-B+C")
    assert panel.library_list.count() == 1
    panel.set_active(3)
    panel.load_from_library(name)
    panel.ctx.jobs.wait_until_idle(10)
    assert np.allclose(panel.latent_of(3), z)
    # Persisted across runs: a new library object reads the same file.
    from studio.library import LatentLibrary

    assert np.allclose(LatentLibrary().latent(name), z)


def test_model_switch_re_encodes_slots(panel, qtbot):
    rng = np.random.default_rng(0)
    fill(panel, 0, Slot("image", "noise", source=rng.integers(0, 255, (64, 64, 3), np.uint8)))
    rgb_latent = panel.latent_of(0).copy()
    panel.model_combo.setCurrentIndex(1)  # tiny-vae, gray
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.model == "tiny-vae"
    assert panel.latent_of(0) is not None and not np.allclose(panel.latent_of(0), rgb_latent)
    assert panel.data_combo.currentText() == "glyphs"
    panel.undo_stack.undo()
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.model == "tiny-rgb" and np.allclose(panel.latent_of(0), rgb_latent)


def test_export_strip_gif_and_copy(panel, qtbot, tmp_path):
    fill(panel, 0, Slot("random", "s0", seed=0))
    fill(panel, 1, Slot("random", "s1", seed=1))
    panel.export_to(str(tmp_path / "strip.png"))
    panel.export_to(str(tmp_path / "morph.gif"))
    panel.ctx.jobs.wait_until_idle(20)
    strip = Image.open(tmp_path / "strip.png")
    assert strip.size == (4 * (8 * 64 + 7 * 2), 4 * 64)       # 4x, the default export size
    gif = Image.open(tmp_path / "morph.gif")
    assert gif.n_frames > 30
    panel.copy_frame()
    clip = QGuiApplication.clipboard().image()
    assert clip.width() == 64 and not clip.isNull()


def test_dataset_browser_search_fills_a_slot(panel, qtbot, tmp_path, monkeypatch):
    from models.data import glyphs

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path))
    glyphs.build(tmp_path / "glyphs.npz", dirs=[glyphs.Path("/usr/share/fonts/truetype/dejavu")],
                 max_fonts=4)
    panel.data_combo.setCurrentText("glyphs")
    panel.load_dataset("glyphs")
    panel.ctx.jobs.wait_until_idle(10)
    panel.search_edit.setText("g Bold")
    panel._fill_data_list()
    assert panel.data_list.count() >= 1
    tips = [panel.data_list.item(i).toolTip() for i in range(panel.data_list.count())]
    assert all(t.startswith("'g'") and "Bold" in t for t in tips)
    panel.set_active(2)
    panel._on_data_item_activated(panel.data_list.item(0))
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.slots[2].kind == "image" and panel.latent_of(2) is not None


def test_missing_dataset_is_explained(panel, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "none"))
    panel.load_dataset("emoji")
    panel.ctx.jobs.wait_until_idle(10)
    assert "latent-studio data build emoji" in panel.data_status.text()


def test_user_checkpoint_joins_the_switcher(panel, tmp_path):
    from tests.conftest import make_tiny_vae

    path = make_tiny_vae(tmp_path / "mine", "my-vae", seed=9)
    panel.open_file(str(path))
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.model.startswith("my-vae")
    assert panel.model_combo.currentData() == panel.model


def test_keyboard_picks_slots(panel, qtbot):
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_C)
    assert panel.active == 2


def test_closing_mid_drag_submits_nothing_after_shutdown(window, qtbot):
    panel = window.show_panel("latent")
    panel.scrub_slider.setSliderDown(True)
    panel.scrub_slider.setValue(123)  # starts the throttle timer
    assert panel._scrub_timer.isActive()
    window.close()
    assert not panel._scrub_timer.isActive() and not panel._search_timer.isActive()
    qtbot.wait(40)  # past the throttle interval: nothing fires into the stopped runner


def test_library_shows_thumbnails(panel, qtbot):
    fill(panel, 0, Slot("random", "s0", seed=3))
    panel.keep_latent("mine", panel.latent_of(0))
    panel.ctx.jobs.wait_until_idle(10)
    item = panel.library_list.item(0)
    assert item.text().startswith("mine") and not item.icon().isNull()
    size = item.icon().availableSizes()[0]
    assert size.width() == 64          # the decoded latent, drawn like the model's output


def test_first_screen_offers_to_build_the_data_set(panel, qtbot, tmp_path, monkeypatch):
    import studio.panels.latent as latent
    from models.data import glyphs

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "data"))
    panel.window().status.clear_error()
    panel.data_combo.setCurrentText("glyphs")
    panel.load_dataset("glyphs")
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.window().status.error_label.text() == ""       # not an error
    assert "not built yet" in panel.data_status.text()
    assert not panel.build_button.isHidden()

    def small_build(name, out=None, seed=0, *, ctx):   # the real builder on two fonts
        return glyphs.build(tmp_path / "data" / "glyphs.npz",
                            dirs=[glyphs.Path("/usr/share/fonts/truetype/dejavu")],
                            max_fonts=2, ctx=ctx)

    monkeypatch.setattr(latent, "build_dataset", small_build)
    seen = []
    panel.ctx.jobs.job_started.connect(lambda key, label: seen.append(label))
    panel.build_button.click()
    assert panel.ctx.jobs.wait_until_idle(60)
    assert "Building the glyphs data set" in seen
    assert panel.dataset is not None and panel.data_list.count() > 0
    assert panel.build_button.isHidden()


def test_export_takes_the_chosen_format_and_size(panel, tmp_path):
    fill(panel, 0, Slot("random", "s0", seed=0))
    fill(panel, 1, Slot("random", "s1", seed=1))
    panel.export_scale_combo.setCurrentIndex(panel.export_scale_combo.findData(4))
    panel.export_to(str(tmp_path / "morph"), "gif")          # no extension typed
    panel.ctx.jobs.wait_until_idle(20)
    gif = Image.open(tmp_path / "morph.gif")
    assert gif.format == "GIF" and gif.n_frames > 30 and gif.size == (256, 256)
    panel.export_scale_combo.setCurrentIndex(panel.export_scale_combo.findData(1))
    panel.export_to(str(tmp_path / "strip"))
    panel.ctx.jobs.wait_until_idle(20)
    assert Image.open(tmp_path / "strip.png").size == (8 * 64 + 7 * 2, 64)


def test_an_off_centre_letter_is_framed_and_said_so(panel, qtbot, tmp_path):
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 50)
    page = Image.new("RGB", (900, 700), "white")
    ImageDraw.Draw(page).text((700, 150), "K", font=font, fill="black", anchor="ls")
    page.save(tmp_path / "page.png")
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("tiny-vae"))   # gray glyphs
    panel.ctx.jobs.wait_until_idle(10)
    assert panel.model == "tiny-vae"
    messages = []
    panel.message.connect(messages.append)
    panel.set_active(0)
    panel.open_file(str(tmp_path / "page.png"))
    panel.ctx.jobs.wait_until_idle(10)
    assert any("framed the glyph" in m for m in messages)
    shown = panel.slot_views[0].image()
    ink = shown.mean(-1) < 128                       # drawn dark on light, like decodes
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert rows[0] >= 2 and rows[-1] <= 61 and rows[-1] - rows[0] > 30   # fills the window
    assert abs((cols[0] + cols[-1]) / 2 - 31.5) < 3                      # centred


def test_a_stylegan2_pickle_walks_seeds_and_projects_a_picture(panel, qtbot, tmp_path,
                                                               monkeypatch):
    from models.image import stylegan_pkl
    from tests.models.test_stylegan_pkl import REFERENCE, write_pickle

    monkeypatch.setattr(stylegan_pkl, "PROJECT_STEPS", 24)      # a short projection

    path = write_pickle(tmp_path / "faces.pkl", REFERENCE["skip"]["kwargs"], tmp_path / "ran")
    panel.open_file(str(path))
    panel.ctx.jobs.wait_until_idle(30)
    qtbot.waitUntil(lambda: panel.model.startswith("faces"), timeout=5000)
    backend = panel.ctx.registry.get(panel.model)
    fill(panel, 1, Slot("random", "s7", seed=7))
    assert np.array_equal(panel.latent_of(1), backend.codes_from_seeds([7])[0].ravel())
    shown = []
    real = panel.slot_views[0].set_image
    panel.slot_views[0].set_image = lambda img: (shown.append(img), real(img))
    target = (backend.decode(backend.sample_latents(1, 3))[0] * 255 + 0.5).astype(np.uint8)
    fill(panel, 0, Slot("image", "photo", source=target))
    panel.ctx.jobs.wait_until_idle(60)
    assert panel.latent_of(0) is not None and len(panel.latent_of(0)) == 6 * 16
    assert len(shown) > 3                     # the picture, the fit as it went, the result
    assert not (tmp_path / "ran").exists()
