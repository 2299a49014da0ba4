"""Inpainting as the CLI and panel use it (models/tasks/inpaint.py), and the measurements'
masks and baselines (models/eval/inpaint.py)."""

import numpy as np
import pytest
from PIL import Image

from models.eval import inpaint as ev
from models.registry import Registry
from models.samplers.repaint import PRESETS
from models.tasks import inpaint as ip
from tests.conftest import make_tiny_diffusion, make_tiny_vae


@pytest.fixture
def reg(tmp_path):
    make_tiny_diffusion(tmp_path)
    make_tiny_vae(tmp_path)
    return Registry(tmp_path)


def glyph(size=64):
    """A white bar-and-ring glyph on black, as the data set holds them (uint8, (H, W, 1))."""
    g = np.zeros((size, size, 1), np.uint8)
    g[12:52, 20:26] = 255
    yy, xx = np.mgrid[:size, :size]
    ring = np.abs(np.hypot(yy - 40, xx - 36) - 9) < 3
    g[ring] = 255
    return g


def test_options_count_network_calls_and_check_values():
    assert ip.InpaintOptions().calls == 50
    assert ip.InpaintOptions(repaint="fast").calls == PRESETS["fast"].network_calls == 230
    assert ip.InpaintOptions(repaint="quality").total_steps == 250
    assert ip.InpaintOptions(repaint="fast", steps=20).total_steps == 20
    with pytest.raises(ValueError, match="unknown RePaint preset"):
        ip.InpaintOptions(repaint="best")
    with pytest.raises(ValueError, match="feather must be"):
        ip.InpaintOptions(feather=20)
    d = ip.InpaintOptions(label=1, guidance=3.0, seed=7).describe(("a", "b"))
    assert d["class"] == "b" and d["guidance"] == "3.0" and d["seed"] == "7"
    assert ip.InpaintOptions().describe()["class"] == "none"


def test_parse_class():
    classes = tuple("ABCg")
    assert ip.parse_class("g", classes) == 3 and ip.parse_class("1", classes) == 1
    assert ip.parse_class(None, classes) is None and ip.parse_class("none", classes) is None
    with pytest.raises(ValueError, match="not one of this model's: ABCg"):
        ip.parse_class("z", classes)
    with pytest.raises(ValueError, match="unconditional"):
        ip.parse_class("a", ())


def test_picture_and_mask_share_one_crop_and_size():
    # A dark-on-light picture, wider than tall, with its mask at another size.
    pic = Image.new("L", (300, 200), 255)
    pic.paste(0, (140, 40, 160, 160))                      # a dark bar in the centre
    mask = Image.new("L", (150, 100), 0)
    mask.paste(255, (70, 0, 80, 50))                        # over the bar's top half
    p = ip.picture_and_mask((64, 64, 1), pic, mask)
    assert p.image.shape == (64, 64, 1) and p.mask.shape == (64, 64)
    assert p.dark_on_light and "centre-cropped 300x200" in p.note
    assert p.image[40, 32, 0] > 0.9 and p.image[40, 5, 0] < 0.1   # inverted: light ink
    rows = np.nonzero(p.mask.max(1) > 0.5)[0]
    cols = np.nonzero(p.mask.max(0) > 0.5)[0]
    assert rows.max() < 34 and 28 <= cols.min() and cols.max() <= 36
    shown = p.shown(p.image)
    assert shown.shape == (64, 64, 3) and shown[40, 32, 0] < 30      # dark again
    light = ip.picture_and_mask((64, 64, 1), Image.new("L", (64, 64), 0))
    assert not light.dark_on_light and light.mask.max() == 0


def test_mask_transparency_counts_as_keep():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = 255                  # white everywhere, but only opaque on the left
    rgba[:, :5, 3] = 255
    m = ip.mask_from_picture(Image.fromarray(rgba, "RGBA"))
    assert m[:, :5].min() == pytest.approx(1.0) and m[:, 5:].max() == 0.0


def test_run_repaints_and_refuses_an_empty_mask(reg):
    image = np.zeros((16, 16, 1), np.float32)
    mask = np.zeros((16, 16), np.float32)
    with pytest.raises(ValueError, match="the mask is empty"):
        ip.run(reg, "tiny-diffusion", image, mask, ip.InpaintOptions(steps=3))
    mask[4:10, 4:10] = 1
    out = ip.run(reg, "tiny-diffusion", image, mask, ip.InpaintOptions(steps=3, label=2,
                                                                       guidance=2.0))
    assert out.shape == (16, 16, 1) and not np.allclose(out[5:9, 5:9], 0, atol=1e-3)
    with pytest.raises(ValueError, match="does not inpaint"):
        ip.run(reg, "tiny-vae", image, mask, ip.InpaintOptions(steps=3))


def test_png_metadata_round_trip(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    path = ip.save_with_metadata(rgb, tmp_path / "r.png", {"model": "m", "seed": "3"}, scale=4)
    img = Image.open(path)
    assert img.size == (32, 32) and img.text == {"model": "m", "seed": "3"}


def test_a_picture_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    rgb = np.full((8, 8, 3), 200, np.uint8)
    out = tmp_path / "result.png"
    ip.save_with_metadata(np.zeros((8, 8, 3), np.uint8), out, {"seed": "1"})
    real = Image.Image.save

    def full_disk(self, fp, *a, **k):
        real(self, fp, *a, **k)
        with open(fp, "r+b") as f:                  # what got there before the disk filled
            f.truncate(20)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError):
        ip.save_with_metadata(rgb, out, {"seed": "2"})
    monkeypatch.undo()
    assert Image.open(out).text["seed"] == "1"     # the earlier picture is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]
    ip.save_with_metadata(rgb, out, {"seed": "3"})
    assert Image.open(out).text["seed"] == "3" and len(list(tmp_path.iterdir())) == 1


def test_glyph_masks_cover_what_they_say():
    g = glyph()
    y0, y1, x0, x1 = ev.ink_box(g)
    assert (y0, y1) == (12, 51)
    rng = np.random.default_rng(0)
    top, bottom = ev.glyph_mask(g, "top", rng), ev.glyph_mask(g, "bottom", rng)
    cut = round(0.45 * (y1 - y0 + 1))
    assert top[y0, x0] == 1 and top[y0 + cut - 1, x1] == 1 and top[y0 + cut].max() == 0
    assert bottom[y1, x0] == 1 and bottom[y1 - cut].max() == 0 and bottom[y0].max() == 0
    strokes = ev.glyph_mask(g, "strokes", rng)
    ink = g[..., 0] > ev.INK
    assert 0 < strokes.mean() < 0.3 and (strokes[ink] > 0.5).any()
    assert set(np.unique(strokes)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="unknown mask kind"):
        ev.glyph_mask(g, "left", rng)


def test_baselines_fill_only_the_mask():
    g = glyph()[None]
    m = ev.glyph_mask(g[0], "top", np.random.default_rng(0))[None]
    truth = g.astype(np.float32) / 255
    hole = np.zeros_like(m)
    hole[0, 18:22, 21:25] = 1                       # a small hole inside the bar
    for method in ("telea", "ns"):
        out = ev.opencv_inpaint(g, m, method)
        assert out.shape == truth.shape
        assert np.array_equal(out[0][m[0] < 0.5], truth[0][m[0] < 0.5])
        assert not np.array_equal(out, truth)
        small = ev.opencv_inpaint(g, hole, method)      # closed from the bright bar around
        assert small[0, 18:22, 21:25].min() > 0.8
        assert ev.masked_mse(small, truth, hole) < 0.05 < ev.masked_mse(ev.grey_fill(g, hole),
                                                                truth, hole)
    grey = ev.grey_fill(g, m)
    assert np.all(grey[0][m[0] > 0.5] == 0.5)
    assert ev.masked_mse(truth, truth, m) == 0.0


def test_framing_a_glyph_moves_its_mask_with_it():
    from models.image.framing import frame_glyph_and_mask

    gray = np.zeros((200, 300), np.float32)
    gray[120:180, 220:240] = 1.0                  # a small bar, low and to the right
    mask = np.zeros_like(gray)
    mask[150:180, 215:245] = 1.0                  # over its lower half
    framed, moved, note = frame_glyph_and_mask(gray, mask, 64)
    assert "framed the glyph" in note and framed.shape == moved.shape == (64, 64)
    ink = framed > 0.5
    rows = np.flatnonzero(ink.any(axis=1))
    covered = moved[ink].mean()                   # half the framed bar is under the mask
    assert 0.35 < covered < 0.65
    lower = moved[rows[-1] - 2, ink[rows[-1] - 2]].mean()
    upper = moved[rows[0] + 2, ink[rows[0] + 2]].mean()
    assert lower > 0.9 and upper < 0.1            # ...and it is the lower half
