"""A user's own pictures as a training set: what is kept and dropped and why, sizes, colour,
alpha over a background, flips, a seeded held-out part, a cache keyed by the contents."""

import numpy as np
import pytest
from PIL import Image

from models.data import user_set as us


def _picture(path, seed, size=(120, 90), mode="RGB"):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (6, 8, 3)).astype(np.uint8)        # big smooth blocks
    img = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
    if mode == "RGBA":
        img = img.convert("RGBA")
        a = np.asarray(img).copy()
        a[:, : size[0] // 2, 3] = 0                                   # left half clear
        img = Image.fromarray(a)
    img.save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "mine"
    (d / "sub").mkdir(parents=True)
    for k in range(6):
        _picture(d / f"p{k}.png", k)
    _picture(d / "sub" / "deep.jpg", 10)
    (d / "copy.png").write_bytes((d / "p0.png").read_bytes())        # exact duplicate
    Image.open(d / "p1.png").resize((118, 88)).save(d / "q1-resaved.png")   # near duplicate
    _picture(d / "tiny.png", 20, size=(20, 16))
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    (d / "notes.txt").write_text("not a picture")
    _picture(d / "clear.png", 30, mode="RGBA")
    return d


def test_scan_keeps_and_drops_with_reasons(folder):
    s = us.scan([folder])
    kept = sorted(p.path.rsplit("/", 1)[1] for p in s.kept)
    # copy.png sorts before p0.png: the first of two equal files is kept.
    assert kept == ["clear.png", "copy.png", "deep.jpg", "p1.png", "p2.png", "p3.png",
                    "p4.png", "p5.png"]
    why = {d.path.rsplit("/", 1)[1]: d.why for d in s.dropped}
    assert why["p0.png"] == "duplicate: the same file as copy.png"
    assert why["q1-resaved.png"].startswith("near duplicate: looks like p1.png")
    assert why["tiny.png"].startswith("too small: 20x16")
    assert why["broken.png"].startswith("unreadable")
    assert "notes.txt" not in why
    assert s.summary()["why"] == {"duplicate": 1, "near duplicate": 1, "too small": 1,
                                  "unreadable": 1}
    assert us.thumbnails(s).shape == (8, 64, 64, 3)


def test_prepare_sizes_colour_alpha_flips_split_and_cache(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    s = us.scan([folder])
    path = us.prepare(s, us.PrepareOptions(size=64, background=(0, 0, 255)))
    d = np.load(path)
    assert d["images"].shape == (8, 64, 64, 3) and d["images"].dtype == np.uint8
    assert sorted(set(d["split"])) == ["test", "train", "val"]
    assert (d["split"] == "test").sum() == 1                       # 10 % of 8, at least one
    clear = list(d["name"]).index("clear.png")
    assert "p0.png" not in list(d["name"])
    assert tuple(d["images"][clear][32, 2]) == (0, 0, 255)          # alpha over the background
    mtime = path.stat().st_mtime_ns
    assert us.prepare(s, us.PrepareOptions(size=64, background=(0, 0, 255))) == path
    assert path.stat().st_mtime_ns == mtime                         # cached: not made again
    gray = np.load(us.prepare(s, us.PrepareOptions(size=128, color="gray", fit="pad")))
    assert gray["images"].shape == (8, 128, 128, 1)
    flipped = np.load(us.prepare(s, us.PrepareOptions(flips=True)))
    n_train = int((d["split"] == "train").sum())
    assert len(flipped["images"]) == 8 + n_train
    assert (flipped["split"] == "test").sum() == 1                 # held-out never mirrored
    first = flipped["images"][8]
    src = list(flipped["name"]).index(flipped["name"][8].replace(" (mirrored)", ""))
    assert np.array_equal(first, flipped["images"][src][:, ::-1])
    # The same pictures under other names: the same set (keyed by contents).
    other = tmp_path / "renamed"
    other.mkdir()
    for p in s.kept:
        (other / ("x-" + p.path.rsplit("/", 1)[1])).write_bytes(open(p.path, "rb").read())
    assert us.cache_path(us.scan([other]), us.PrepareOptions()) == us.cache_path(
        s, us.PrepareOptions())


def test_bad_requests_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        us.scan([tmp_path / "nowhere"])
    with pytest.raises(ValueError, match="the size is one of 64, 128, 256"):
        us.PrepareOptions(size=100)
    _picture(tmp_path / "a.png", 1)
    with pytest.raises(ValueError, match="at least 3 are needed"):
        us.prepare(us.scan([tmp_path]), us.PrepareOptions())


def test_the_command_says_what_is_kept_and_dropped(folder, tmp_path, monkeypatch, capsys):
    import json

    from studio.cli import main

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    assert main(["data", "prepare", str(folder), "--size", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pictures"] == 8 and out["dropped"] == 4 and out["split"]["test"] == 1
    assert np.load(out["path"])["images"].shape == (8, 64, 64, 3)
    assert main(["data", "prepare", str(folder), "--background", "blue"]) == 2
    assert "--background takes #RRGGBB" in capsys.readouterr().err


def test_a_vae_trains_on_your_pictures_and_opens_as_a_model(folder, tmp_path, monkeypatch,
                                                           capsys):
    import json

    from models.registry import Registry
    from studio.cli import main

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    out = tmp_path / "mine.safetensors"
    code = main(["train", "vae", "--images", str(folder), "--epochs", "4", "--batch", "4",
                 "--latent-dim", "4", "--width", "8", "--anneal-epochs", "1", "--out",
                 str(out)])
    said = capsys.readouterr()
    assert code == 0, said.err
    assert "dropped" in said.err and "near duplicate" in said.err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["name"] == "user pictures" and card["data"]["images"]["test"] == 1
    assert card["data"]["content_key"] and card["metrics"]["test_mse_pca"] > 0
    reg = Registry(None)
    info = reg.add_checkpoint(out)
    assert tuple(info.image_shape) == (64, 64, 3)
    z = reg.get(info.name).sample_latents(2, 0)
    assert reg.get(info.name).decode(z).shape == (2, 64, 64, 3)
    assert main(["train", "vae", "--images", str(folder)]) == 2
    assert "--images needs --out" in capsys.readouterr().err


def test_small_drawings_on_a_big_page_are_not_taken_for_each_other(tmp_path):
    from PIL import ImageDraw

    for k, shape in enumerate(("ellipse", "rectangle", "line")):
        im = Image.new("RGB", (400, 300), "white")
        draw = ImageDraw.Draw(im)
        box = (180, 130, 220, 170)
        if shape == "line":
            draw.line(box, fill="black", width=4)
        else:
            getattr(draw, shape)(box, fill=(200, 30 * k, 0))
        im.save(tmp_path / f"{shape}.png")
    s = us.scan([tmp_path])
    assert len(s.kept) == 3 and s.dropped == []
    big = Image.new("RGB", (400, 300), "white")            # a drawing filling its page,
    ImageDraw.Draw(big).ellipse((60, 40, 340, 260), fill=(200, 0, 0), outline="black",
                                width=6)
    big.save(tmp_path / "big.png")                            # then smaller, as a JPEG
    big.resize((300, 225), Image.Resampling.LANCZOS).save(tmp_path / "z-smaller.jpg",
                                                          quality=85)
    assert [d.why for d in us.scan([tmp_path]).dropped] == [
        "near duplicate: looks like big.png"]


@pytest.mark.parametrize("family", ["stylegen", "diffusion"])
def test_the_style_generator_and_the_diffusion_model_train_on_your_pictures(
        family, folder, tmp_path, monkeypatch, capsys):
    import json

    from models.registry import Registry
    from studio.cli import main

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    out = tmp_path / f"{family}-mine.safetensors"
    extra = ["--ae-minutes", "1"] if family == "diffusion" else []
    code = main(["train", family, "--images", str(folder), "--max-steps", "2", "--minutes",
                 "1", "--batch", "4", "--no-measure", *extra, "--out", str(out)])
    said = capsys.readouterr()
    assert code == 0, said.err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["name"] == "user pictures" and card["data"]["content_key"]
    assert f"train {family} --images" in card["training"]["command"]
    info = Registry(None).add_checkpoint(out)
    assert tuple(info.image_shape) == (64, 64, 3)
    assert main(["train", family, "--images", str(folder)]) == 2
    assert "--images needs --out" in capsys.readouterr().err


def test_sample_fid_of_a_model_against_its_held_out_pictures(tmp_path, monkeypatch, capsys):
    import json

    from studio.cli import main

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    d = tmp_path / "many"
    d.mkdir()
    for k in range(30):
        im = np.full((70, 70, 3), 255, np.uint8)
        y, x = rng.integers(5, 45, 2)
        im[y:y + 20, x:x + 20] = rng.integers(0, 255, 3)
        Image.fromarray(im).save(d / f"{k}.png")
    out = tmp_path / "m.safetensors"
    assert main(["train", "vae", "--images", str(d), "--max-steps", "3", "--batch", "8",
                 "--width", "8", "--latent-dim", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["metrics", "samples", str(out), "--components", "4", "--write-card"]) == 0
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = json.loads(out.with_suffix(".json").read_text())
    assert said["fid_pictures"] == card["data"]["images"]["test"] >= 2
    assert card["metrics"]["fid_samples"] == said["fid_samples"] > 0
    assert card["metrics"]["fid_samples_pca"] > 0 and card["metrics"]["test_mse_pca"] > 0
