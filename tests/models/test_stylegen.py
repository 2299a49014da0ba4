"""The style generator: its modulated convolution, sampler, trainer, tasks and shipped model."""

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from models.image.stylegen import ModConv, truncate
from models.registry import Registry, default_registry
from models.tasks import stylemix as sm
from models.train import stylegen as trainer
from tests.conftest import make_tiny_stylegen


def test_unfused_modulated_conv_equals_the_grouped_form():
    torch.manual_seed(0)
    conv = ModConv(6, 5, 3, w_dim=4)
    x, w = torch.randn(3, 6, 8, 8), torch.randn(3, 4)
    got = conv(x, w)
    # StyleGAN2's form: one weight per sample, modulated and demodulated, grouped conv.
    s = conv.affine(w)
    weight = conv.weight[None] * conv.scale * s[:, None, :, None, None]     # (B, O, I, k, k)
    weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    ref = F.conv2d(x.reshape(1, -1, 8, 8), weight.reshape(-1, 6, 3, 3), padding=1, groups=3)
    ref = ref.reshape(3, 5, 8, 8) + conv.bias[None, :, None, None]
    assert torch.allclose(got, ref, atol=1e-5)


def test_truncation_blends_rows_below_the_cutoff():
    codes, mean = torch.ones(1, 4, 2), torch.zeros(4, 2)
    out = truncate(codes, mean, 0.25, cutoff=2)
    assert torch.allclose(out[0, :2], torch.full((2, 2), 0.25))
    assert torch.allclose(out[0, 2:], torch.ones(2, 2))


def test_mixture_fit_finds_two_clusters():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 3, generator=g, dtype=torch.float64) * 0.1 + 4
    b = torch.randn(300, 3, generator=g, dtype=torch.float64) * 0.1 - 4
    weights, means, chol = trainer._gmm(torch.cat([a, b]), 2, 30, 0)
    found = sorted(means[:, 0].tolist())
    assert found[0] == pytest.approx(-4, abs=0.1) and found[1] == pytest.approx(4, abs=0.1)
    assert weights.tolist() == pytest.approx([0.5, 0.5], abs=0.02)
    assert torch.diagonal(chol @ chol.transpose(1, 2), dim1=1, dim2=2).max() < 0.03


def _tiny_glyph_set(path, fonts=6, chars="abcd", size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(fonts):
        base = rng.random((size, size)) > 0.5
        for k in range(len(chars)):
            images.append(((np.roll(base, k, axis=1) ^ (rng.random((size, size)) > 0.95))
                           * 255).astype(np.uint8))
    table = [{"family": f"F{f}", "name": f"F{f}", "tags": [],
              "split": ("train", "train", "train", "val", "test", "train")[f % 6]}
             for f in range(fonts)]
    np.savez_compressed(path, images=np.stack(images),
                        char=np.tile(np.arange(len(chars)), fonts).astype(np.int16),
                        font=np.repeat(np.arange(fonts), len(chars)).astype(np.int16),
                        split=np.repeat([t["split"] for t in table], len(chars)),
                        fonts=np.array(json.dumps(table)), chars=np.array(chars))
    return path


def test_a_few_training_steps_write_a_loadable_model_with_its_card(tmp_path):
    data = _tiny_glyph_set(tmp_path / "glyphs.npz")
    cfg = trainer.TrainConfig(minutes=5, max_steps=3, batch=4, shots=2, w_dim=8, width=4,
                              max_width=8, seed=1)
    out = tmp_path / "sg.safetensors"
    logged = []
    card = trainer.train(cfg, out, data_path=data, log=logged.append, measure_after=False)
    assert card["training"]["steps"] == 3 and card["config"]["chars"] == "abcd"
    assert card["layers"]["content"] == [0, 1] and card["layers"]["style"] == [2, 3, 4, 5]
    assert set(card["training"]["losses"]) >= {"swap", "rec", "inv", "cons"}
    assert json.loads(logged[0])["step"] == 1
    reg = Registry(None)
    backend = reg.get(reg.add_checkpoint(out).name)
    assert backend.content_codes("ba").shape == (2, 2, 8)
    with pytest.raises(ValueError, match="cannot write 'z'"):
        backend.content_codes("az")
    # The sampler was fit: seeds give different codes, not the zero code.
    codes = backend.codes_from_seeds([0, 1])
    assert not np.allclose(codes[0], codes[1]) and np.abs(codes).mean() > 0.1


def test_continuing_from_weights_keeps_the_stages(tmp_path):
    data = _tiny_glyph_set(tmp_path / "glyphs.npz")
    cfg = trainer.TrainConfig(minutes=5, max_steps=1, batch=2, shots=1, w_dim=8, width=4,
                              max_width=8)
    first = tmp_path / "one.safetensors"
    trainer.train(cfg, first, data_path=data, log=lambda _: None, measure_after=False)
    second = tmp_path / "two.safetensors"
    cfg2 = trainer.TrainConfig(**{**cfg.__dict__, "init": str(first), "max_steps": 2})
    card = trainer.train(cfg2, second, data_path=data, log=lambda _: None,
                         measure_after=False)
    assert [s["steps"] for s in card["training"]["stages"]] == [1, 2]
    assert "--init" in card["training"]["stages"][1]["command"]


def test_layer_ranges_and_presets():
    spec = default_registry().info("stylegen-glyphs").style
    assert sm.parse_layers("0-3", 10) == (0, 1, 2, 3)
    assert sm.parse_layers("1, 5,7-8", 10) == (1, 5, 7, 8)
    for bad, why in (("0-12", "outside"), ("x", "numbers or ranges"), ("", "no layers")):
        with pytest.raises(ValueError, match=why):
            sm.parse_layers(bad, 10)
    p = sm.presets(spec)
    assert p["coarse"] == (0, 1, 2, 3) and p["middle"] == (4, 5, 6, 7) and p["fine"] == (8, 9)
    assert p["content"] == (0, 1) and p["style"] == tuple(range(2, 10))


def test_a_line_is_set_with_gaps_for_spaces():
    glyphs = np.zeros((3, 8, 8, 1), np.float32)
    glyphs[:, 2:6, 3:5] = 1.0                       # ink two columns wide
    line = sm.set_line("ab c", glyphs)
    narrow = sm.set_line("abc", glyphs)
    assert line.shape[0] == 8 and line.shape[1] > narrow.shape[1]
    assert line.shape[1] < 3 * 8 + 8            # cropped to ink, not whole cells
    tiled = sm.tile(np.zeros((2, 3, 8, 8, 1), np.float32), pad=2)
    assert tiled.shape == (2 * 8 + 3 * 2, 3 * 8 + 4 * 2, 1)


def test_write_text_names_what_it_cannot_draw(tmp_path):
    make_tiny_stylegen(tmp_path)
    reg = Registry(tmp_path)
    rng = np.random.default_rng(0)
    style = sm.style_code(reg, "tiny-stylegen", list(rng.random((2, 16, 16, 1), np.float32)))
    assert style.shape == (4, 8)
    line = sm.write_text(reg, "tiny-stylegen", "ab ba", style)
    assert line.shape[0] == 16 and line.dtype == np.float32
    with pytest.raises(ValueError, match="cannot write '!'"):
        sm.write_text(reg, "tiny-stylegen", "a!", style)
    with pytest.raises(ValueError, match="no character"):
        sm.write_text(reg, "tiny-stylegen", "   ", style)


def _drawn(ch: str, stroke: int = 0) -> np.ndarray:
    """A character drawn with Pillow's own font (no system font needed), black on white."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (96, 96), 255)
    ImageDraw.Draw(img).text((48, 48), ch, font=ImageFont.load_default(size=64), fill=0,
                             anchor="mm", stroke_width=stroke, stroke_fill=0)
    return np.asarray(img)


def test_shipped_model_draws_a_character_in_another_glyphs_style():
    """The character survives the transfer (the glyph classifier still reads it), and the
    style glyph's weight reaches the result (a bold style gives more ink than a thin one)."""
    from models.tasks.pictures import picture_for_model

    reg = default_registry()
    name = "stylegen-glyphs"
    clf = reg.get("glyph-classifier")
    letters = "AEHKRbdhkq"
    content = np.stack([picture_for_model(reg, name, _drawn(ch))[0] for ch in letters])
    thin = sm.style_code(reg, name, [picture_for_model(reg, name, _drawn("n"))[0]])
    bold = sm.style_code(reg, name, [picture_for_model(reg, name, _drawn("n", 5))[0]])
    out_thin = sm.in_style(reg, name, content, thin)
    out_bold = sm.in_style(reg, name, content, bold)
    chars = reg.info("glyph-classifier").classes
    for out in (out_thin, out_bold):
        read = "".join(chars[i] for i in clf.run(out)[1].argmax(1))
        assert sum(a == b for a, b in zip(read, letters)) >= 7, read
    assert (out_bold.mean(axis=(1, 2, 3)) > out_thin.mean(axis=(1, 2, 3))).mean() >= 0.9
    # Strength 0 is the mean font: the same for both styles.
    assert np.allclose(sm.in_style(reg, name, content[:2], thin, strength=0.0),
                       sm.in_style(reg, name, content[:2], bold, strength=0.0), atol=1e-5)


def test_layer_effects_measure_the_rows_taken(tmp_path):
    from models.eval.stylemix import layer_effects

    make_tiny_stylegen(tmp_path)
    backend = Registry(tmp_path).get("tiny-stylegen")

    class InkClassifier:             # "reads" a picture as its ink fraction, bucketed
        def run(self, x):
            k = np.clip((x.mean(axis=(1, 2, 3)) * 4).astype(int), 0, 3)
            return None, np.eye(4)[k]

    rng = np.random.default_rng(0)
    glyphs = rng.random((5, 4, 16, 16, 1)).astype(np.float32)
    eff = layer_effects(backend, InkClassifier(), glyphs,
                        {"none": (), "all": tuple(range(6))}, n=40)
    assert eff["none"]["ink_toward_b"] == pytest.approx(0.0, abs=1e-4)
    assert eff["all"]["ink_toward_b"] == pytest.approx(1.0, abs=1e-3)
    assert eff["all"]["rows"] == list(range(6))


def test_a_data_set_without_fonts_trains_without_swaps(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "emoji.npz"
    np.savez_compressed(path, images=(rng.random((12, 16, 16, 3)) * 255).astype(np.uint8),
                        split=np.array(["train"] * 8 + ["val"] * 2 + ["test"] * 2))
    cfg = trainer.TrainConfig(data="emoji", minutes=5, max_steps=2, batch=4, w_dim=8,
                              width=4, max_width=8)
    logged = []
    card = trainer.train(cfg, tmp_path / "e.safetensors", data_path=path,
                         log=logged.append, measure_after=True)
    assert card["config"]["channels"] == 3 and card["config"]["chars"] == ""
    assert set(json.loads(logged[0])) >= {"rec", "cons"} and "swap" not in json.loads(logged[0])
    assert "none written" in logged[-1]
    reg = Registry(None)
    backend = reg.get(reg.add_checkpoint(tmp_path / "e.safetensors").name)
    style = backend.style_of(rng.random((2, 16, 16, 3), np.float32))
    assert style.shape == (4, 8)                       # no characters: plain mean style rows
