import json
from pathlib import Path

import numpy as np

from models.data import emoji, glyphs
from models.registry import Registry
from models.train.vae import TrainConfig, load_split, train

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def test_glyph_fonts_are_read_with_their_tags():
    fonts = {f.full_name: f for f in glyphs.find_fonts([DEJAVU])}
    bold = fonts["DejaVu Sans Bold"]
    assert bold.bold and not bold.italic and bold.serif == "sans"
    assert fonts["DejaVu Sans Mono"].monospace
    assert not fonts["DejaVu Sans"].bold


def test_glyph_build_is_deterministic_and_split_by_family(tmp_path):
    a = glyphs.build(tmp_path / "a.npz", dirs=[DEJAVU], max_fonts=3)
    glyphs.build(tmp_path / "b.npz", dirs=[DEJAVU], max_fonts=3)
    da, db = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert np.array_equal(da["images"], db["images"])
    assert da["images"].shape == (3 * 62, 64, 64) and da["images"].dtype == np.uint8
    assert str(da["chars"]) == glyphs.CHARS and a["fonts"] == 3
    table = json.loads(str(da["fonts"]))
    # Every image of one family lies in one split.
    for fam in {t["family"] for t in table}:
        ids = [i for i, t in enumerate(table) if t["family"] == fam]
        assert len(set(da["split"][np.isin(da["font"], ids)])) == 1
    # Ink is centred and fits: no glyph touches the border.
    img = da["images"]
    assert img[:, 0, :].max() < 40 and img[:, :, 0].max() < 40 and img.mean() > 10


def test_split_of_is_stable_and_roughly_80_10_10():
    fams = [f"family {i}" for i in range(2000)]
    splits = [glyphs.split_of(f, 0) for f in fams]
    assert splits == [glyphs.split_of(f, 0) for f in fams]
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85 and splits.count("test") > 150


def test_emoji_build_renders_both_fonts_with_groups(tmp_path):
    summary = emoji.build(tmp_path / "e.npz", limit=12)
    d = np.load(tmp_path / "e.npz")
    assert d["images"].shape[1:] == (64, 64, 3) and len(d["images"]) >= 20
    assert set(d["source"]) == {0, 1}
    assert json.loads(str(d["groups"])) == summary["groups"] == ["Smileys & Emotion"]
    assert d["images"][:, 0, 0].min() > 200  # white background


def test_training_writes_weights_and_a_full_card(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    imgs = (rng.random((n, 64, 64)) > 0.7).astype(np.uint8) * 255
    split = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    np.savez(tmp_path / "toy.npz", images=imgs, split=split)
    assert load_split("toy", tmp_path / "toy.npz")["train"].shape == (40, 64, 64, 1)
    out = tmp_path / "w" / "vae-toy.safetensors"
    card = train(TrainConfig(data="glyphs", epochs=2, anneal_epochs=1, width=8, latent_dim=4,
                             batch=16), out, data_path=tmp_path / "toy.npz", log=lambda s: None)
    m = card["metrics"]
    for key in ("test_mse_vae", "test_mse_pca", "test_kl_per_dim_nats", "active_dims"):
        assert key in m
    assert "latent-studio train vae" in card["training"]["command"]
    # 4 steps of 2 an epoch: one held-out check, at the end (checks are >= 20 steps apart)
    assert [h["step"] for h in card["training"]["history"]] == [4]
    assert card["training"]["seed"] == 0
    info = Registry(out.parent).info("vae-toy")
    assert info.latent_size == 4 and info.metrics["test_mse_vae"] == m["test_mse_vae"]
