"""Named and principal directions (models/image/directions.py, models/train/directions.py)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models.image import directions as dm
from models.protocol import Capability
from models.registry import default_registry
from models.train.directions import directions_path

FONT = next(p for p in ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                        "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"]
            if Path(p).is_file())


def bar(width: int = 6, shear: float = 0.0, length: int = 40) -> np.ndarray:
    """A vertical stroke (ink 1 on 0), ``shear`` pixels right per pixel up."""
    im = np.zeros((64, 64), np.float32)
    for y in range(12, 12 + length):
        x0 = int(round(29 + shear * (32 - y)))
        im[y, x0:x0 + width] = 1.0
    return im[None]


def test_measured_labels_move_the_right_way():
    assert dm.ink_fraction(bar(8))[0] > dm.ink_fraction(bar(3))[0]
    assert dm.slant(bar(4, shear=0.3))[0] == pytest.approx(0.3, abs=0.03)
    assert abs(dm.slant(bar(4))[0]) < 1e-6
    assert dm.slant(bar(4, shear=-0.3))[0] < 0
    assert dm.spread(bar(16))[0] > dm.spread(bar(4))[0]


def test_labels_are_standardised_within_each_character():
    images = np.concatenate([bar(w) for w in (2, 4, 6)] + [bar(w, length=20) for w in (3, 5)])
    fonts = [{"tags": ["serif"]}, {"tags": ["sans", "monospace"]}, {"tags": []}]
    labels = dm.glyph_labels(images, np.array([0, 0, 0, 1, 1]), fonts,
                             np.array([0, 1, 2, 0, 1]))
    assert np.allclose(labels["bold"][:3].mean(), 0) and labels["bold"][2] > labels["bold"][0]
    assert labels["bold"][4] > labels["bold"][3]
    assert labels["serif"][:2].tolist() == [1.0, -1.0] and np.isnan(labels["serif"][2])
    assert labels["monospace"].tolist() == [-1, 1, -1, -1, 1]


def test_fit_finds_a_planted_direction_and_orders_principal_ones():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 12)) * np.linspace(3, 0.5, 12)
    truth = np.zeros(12)
    truth[[2, 5]] = [0.6, 0.8]
    y = z @ truth + 0.1 * rng.normal(size=2000)
    ds = dm.fit(z, {"bold": y, "serif": np.full(2000, np.nan)}, n_principal=4)
    assert ds.names == ["bold", "pc1", "pc2", "pc3", "pc4"]          # all-NaN label skipped
    assert abs(float(ds.get("bold").vector @ truth)) > 0.97
    assert ds.get("bold").unit == pytest.approx(np.std((z - z.mean(0)) @ ds.get("bold").vector),
                                                rel=1e-4)
    pcs = np.stack([ds.get(f"pc{k}").vector for k in range(1, 5)])
    assert np.allclose(pcs @ pcs.T, np.eye(4), atol=1e-5)
    assert [ds.get(f"pc{k}").explained for k in range(1, 5)] == sorted(
        [ds.get(f"pc{k}").explained for k in range(1, 5)], reverse=True)
    assert abs(pcs[0, 0]) > 0.95                                     # the widest axis
    moved = ds.apply(z[:5], "bold", 2.0)
    assert np.allclose((moved - z[:5]) @ ds.get("bold").vector, 2 * ds.get("bold").unit,
                       rtol=1e-4)


def test_holding_and_layer_ranges(tmp_path):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(600, 3 * 4))
    y1 = z[:, 4] + z[:, 5] + z[:, 0]
    y2 = z[:, 5] + z[:, 9]
    ds = dm.fit(z, {"bold": y1, "wide": y2}, n_principal=2, layer_shape=(3, 4),
                named_layers=(1, 3))
    bold = ds.get("bold")
    assert bold.layers == (1, 3) and np.allclose(bold.vector[:4], 0)      # fitted on its rows
    held = ds.vector("bold", hold=("wide",))
    assert abs(float(held @ ds.get("wide").vector)) < 1e-5
    assert np.linalg.norm(held) == pytest.approx(bold.unit, rel=1e-5)
    only_row_2 = ds.vector("bold", layers=(2, 3))
    assert np.allclose(only_row_2[:8], 0) and np.linalg.norm(only_row_2[8:]) > 0
    with pytest.raises(ValueError, match="layer rows 0-3 are not within 0-2"):
        ds.vector("bold", layers=(0, 4))
    with pytest.raises(ValueError, match=r"expected latents \(N, 12\)"):
        ds.apply(z[:, :5], "bold", 1.0)
    with pytest.raises(KeyError, match="no direction named 'slant'"):
        ds.get("slant")
    ds.card = {"note": "kept"}
    back = dm.DirectionSet.load(ds.save(tmp_path / "d.safetensors"))
    assert back.names == ds.names and back.layer_shape == (3, 4)
    assert back.card["note"] == "kept" and back.get("bold").layers == (1, 3)
    assert np.allclose(back.vector("bold", hold=("wide",)), held, atol=1e-6)


def rendered(chars: str) -> np.ndarray:
    """Glyphs of a font in the black-and-white light-on-dark form the glyph models take."""
    font = ImageFont.truetype(FONT, 44)
    out = []
    for ch in chars:
        im = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(im).text((32, 32), ch, font=font, fill=255, anchor="mm")
        out.append(np.asarray(im, np.float32)[..., None] / 255.0)
    return np.stack(out)


@pytest.mark.parametrize("model", ["vae-glyphs", "stylegen-glyphs"])
def test_shipped_directions_make_glyphs_bolder_and_keep_them_readable(model):
    reg = default_registry()
    info = reg.info(model)
    ds = dm.DirectionSet.load(directions_path(info))
    assert {"bold", "italic", "wide", "serif", "monospace", "pc1"} <= set(ds.names)
    assert ds.size == info.latent_size
    backend, clf = reg.get(model, "cpu"), reg.get("glyph-classifier", "cpu")
    chars = "AHRaemx4"
    glyphs = rendered(chars)
    z = backend.encode(glyphs)
    base = backend.decode(z)
    bold = backend.decode(ds.apply(z, "bold", 2.0))
    thin = backend.decode(ds.apply(z, "bold", -2.0))
    assert (dm.ink_fraction(bold) > dm.ink_fraction(base)).mean() >= 0.75
    assert (dm.ink_fraction(thin) < dm.ink_fraction(base)).mean() >= 0.75
    italic = backend.decode(ds.apply(z, "italic", 2.0))
    assert dm.slant(italic).mean() > dm.slant(base).mean()
    truth = np.array([clf.net.cfg.chars.index(c) if hasattr(clf.net.cfg, "chars") else
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".index(c)
                      for c in chars])
    read_base = (clf.run(base)[1].argmax(1) == truth).mean()
    read_bold = (clf.run(bold)[1].argmax(1) == truth).mean()
    assert read_bold >= read_base - 0.25
    card = ds.card
    assert card["model"] == model and card["measured"]["steps"]["bold"]["monotone"]
    assert Capability.LATENT in info.capabilities
