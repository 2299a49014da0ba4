import numpy as np
import pytest
from PIL import Image

from models.image.io import ImageLoadError, load_image, save_gif, save_strip
from models.image.latent_ops import arithmetic, bilinear, interpolate, lerp, path, slerp


def test_lerp_and_slerp_endpoints_and_norms():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32)
    for f in (lerp, slerp):
        assert np.allclose(f(a, b, 0.0), a, atol=1e-5) and np.allclose(f(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    assert np.isclose(np.linalg.norm(mid), (np.linalg.norm(a) + np.linalg.norm(b)) / 2, rtol=1e-4)
    # lerp shrinks the norm between independent Gaussians; slerp does not.
    assert np.linalg.norm(lerp(a, b, 0.5)) < np.linalg.norm(mid)
    assert path(a, b, 5, "slerp").shape == (5, 16)
    with pytest.raises(ValueError, match="unknown interpolation mode"):
        interpolate(a, b, 0.5, "cubic")
    with pytest.raises(ValueError, match="at least 2"):
        path(a, b, 1, "linear")
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)  # parallel: falls back to lerp


def test_bilinear_corners_and_centre_and_arithmetic():
    corners = np.eye(4, dtype=np.float32)
    assert np.allclose(bilinear(corners, 0, 0), corners[0])
    assert np.allclose(bilinear(corners, 1, 0), corners[1])
    assert np.allclose(bilinear(corners, 0, 1), corners[2])
    assert np.allclose(bilinear(corners, 1, 1), corners[3])
    assert np.allclose(bilinear(corners, 0.5, 0.5), 0.25)
    assert np.allclose(arithmetic(corners[0], corners[1], corners[2]), [1, -1, 1, 0])


def test_any_image_is_converted_with_a_note(tmp_path):
    rgba = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    rgba.paste((200, 10, 10, 255), (40, 20, 80, 60))
    rgba.save(tmp_path / "a.png")
    arr, note = load_image(tmp_path / "a.png", (64, 64, 3))
    assert arr.shape == (64, 64, 3) and arr.dtype == np.float32
    # Cropped to the object and padded square on white, as the emoji set frames pictures.
    assert "cropped to the object (40x40 px at 40,20)" in note
    assert np.allclose(arr[0, 0], 1.0)  # transparency became white
    assert np.allclose(arr[32, 32], [200 / 255, 10 / 255, 10 / 255], atol=0.02)
    # A photo (content to every edge) is center-cropped as before.
    photo = np.random.default_rng(0).integers(0, 255, (80, 120, 3)).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    _, note = load_image(tmp_path / "p.png", (64, 64, 3))
    assert "center-cropped 120x80" in note and "resized" in note
    Image.new("RGB", (64, 64), "white").save(tmp_path / "w.jpg")
    gray, note = load_image(tmp_path / "w.jpg", (64, 64, 1))
    assert gray.shape == (64, 64, 1) and "inverted" in note and gray.max() < 0.05


def test_bad_image_files_are_clear(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(tmp_path / "empty.png", (64, 64, 1))
    with pytest.raises(ImageLoadError, match="not an image") as info:
        load_image(tmp_path / "text.png", (64, 64, 1))
    assert "Pillow" not in str(info.value) and "PNG, JPEG" in str(info.value)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "gone.png", (64, 64, 1))


def test_strip_and_gif(tmp_path):
    frames = np.linspace(0, 1, 5, dtype=np.float32)[:, None, None, None] * np.ones((5, 8, 8, 1))
    strip = Image.open(save_strip(frames.astype(np.float32), tmp_path / "s.png"))
    assert strip.size == (5 * 8 + 4 * 2, 8)
    gif = Image.open(save_gif(frames.astype(np.float32), tmp_path / "a.gif", scale=2))
    assert gif.n_frames == 8 and gif.size == (16, 16)  # bounce: 5 forward + 3 back


def test_a_huge_picture_is_read_reduced_without_a_warning(tmp_path):
    import warnings

    from models.image.io import MAX_PIXELS, WORK_SIDE

    big = Image.new("L", (10000, 10000), 255)
    big.paste(0, (4000, 4000, 6000, 7000))
    big.save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # a DecompressionBombWarning would raise
        arr, note = load_image(tmp_path / "big.png", (64, 64, 1))
    assert arr.shape == (64, 64, 1) and "reduced 10000x10000 to 2500x2500" in note
    assert "framed the glyph (500x750 px of ink" in note and WORK_SIDE <= 2500
    # Past the limit: one clear sentence, not a warning or an out-of-memory.
    side = int((MAX_PIXELS * 1.05) ** 0.5)
    Image.new("1", (side, side)).save(tmp_path / "huge.png")
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(tmp_path / "huge.png", (64, 64, 1))


def _letter_on_page(ch: str, font_px: int, page: tuple[int, int], at: tuple[int, int]):
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", font_px)
    im = Image.new("RGB", page, "white")
    ImageDraw.Draw(im).text(at, ch, font=font, fill="black", anchor="ls")
    return im


def test_a_small_off_centre_letter_is_framed_like_the_data_set():
    from models.data.glyphs import CHARS, FontInfo, render_font
    from models.image.io import to_model_image

    face = FontInfo("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "DejaVu Sans",
                    "DejaVu Sans", False, False, False, "sans")
    data = render_font(face).astype(np.float32) / 255.0
    for ch in "AHk":                                             # capital-box letters
        page = _letter_on_page(ch, 60, (800, 600), (90, 140))    # top left of a page
        arr, note = to_model_image(page, (64, 64, 1))
        assert "framed the glyph" in note and "a capital" in note and "inverted" in note
        truth = data[CHARS.index(ch)]
        err = float(np.mean((arr[..., 0] - truth) ** 2))
        # What the old center crop gave: the letter cut off or lost on the page.
        old = 1 - np.asarray(page.convert("L").crop((100, 0, 700, 600)).resize((64, 64)),
                             np.float32) / 255.0
        assert err < 0.2 * float(np.mean((old - truth) ** 2)) and err < 0.03
    # A glyph already framed as the data set frames it passes unchanged.
    img = Image.fromarray((data[0] * 255).astype(np.uint8))
    same, note = to_model_image(img, (64, 64, 1))
    assert note == "" and np.abs(same[..., 0] - data[0]).max() < 1 / 255 + 1e-6


def test_the_classifier_picks_the_placement_it_reads_consistently():
    from models.data.glyphs import CHARS
    from models.image.framing import BOXES, classifier_chooser
    from models.registry import Registry
    from models.tasks.pictures import picture_for_model

    # A made-up classifier: in the capital box it reads 'H' (a capital: consistent, 0.6),
    # in the x-height box 'n' (consistent, 0.9), elsewhere 'H' (inconsistent).
    def classify(cands):
        probs = np.full((len(cands), len(CHARS)), 0.001)
        probs[0, CHARS.index("H")] = 0.6
        probs[1, CHARS.index("n")] = 0.9
        probs[2:, CHARS.index("H")] = 0.95
        return probs

    choose = classifier_chooser(classify, CHARS)
    assert choose(np.zeros((len(BOXES), 64, 64, 1), np.float32)) == 1
    # With the shipped glyph classifier: a lone 'n' on a page goes in the x-height box,
    # a 'g' in the descender box.
    reg = Registry()
    for ch, kind in (("n", "an x-height letter"), ("g", "a letter with a descender")):
        page = _letter_on_page(ch, 70, (640, 480), (400, 300))
        arr, note = picture_for_model(reg, "vae-glyphs", page)
        assert kind in note and arr.shape == (64, 64, 1)


def test_pictures_far_from_the_data_are_named():
    from models.registry import Registry
    from models.tasks.pictures import far_warning, picture_for_model

    reg = Registry()
    vae = reg.get("vae-glyphs")
    rng = np.random.default_rng(0)
    noise, _ = picture_for_model(reg, "vae-glyphs", (rng.random((300, 400, 3)) * 255)
                                 .astype(np.uint8))
    letter, _ = picture_for_model(reg, "vae-glyphs", _letter_on_page("R", 80, (500, 400),
                                                                     (200, 250)))
    x = np.stack([noise, letter])
    recon = vae.decode(vae.encode(x))
    assert "far from what vae-glyphs was trained on" in far_warning(reg, "vae-glyphs", x[0],
                                                                    recon[0])
    assert far_warning(reg, "vae-glyphs", x[1], recon[1]) == ""


def test_exports_can_be_enlarged(tmp_path):
    frames = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    strip = Image.open(save_strip(frames, tmp_path / "s.png", scale=4))
    assert strip.size == (3 * 32 + 2 * 8, 32)
    smooth = Image.open(save_strip(frames, tmp_path / "t.png", scale=4, smooth=True))
    a, b = np.asarray(strip), np.asarray(smooth)
    assert a.shape == b.shape and not np.array_equal(a, b)
    # Nearest keeps pixel blocks: every 4x4 block is one value.
    assert np.all(a[:4, :4] == a[0, 0])
    gif = Image.open(save_gif(frames, tmp_path / "g.gif", scale=8))
    assert gif.size == (64, 64)


def test_pictures_and_weights_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import errno

    import torch
    from PIL import Image

    from models.checkpoints import save_checkpoint
    from models.files import WriteError, os_error_words
    from models.image.io import save_gif, save_image

    out = tmp_path / "a.png"
    save_image(np.zeros((8, 8, 3), np.float32), out)
    before = out.read_bytes()
    real = Image.Image.save

    def full_disk(self, fp, *a, **k):
        real(self, fp, *a, **k)
        with open(fp, "r+b") as f:               # half of it got there, then the disk filled
            f.truncate(10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    for write in (lambda: save_image(np.ones((8, 8, 3), np.float32), out),
                  lambda: save_gif(np.ones((3, 8, 8, 3), np.float32), tmp_path / "m.gif")):
        with pytest.raises(WriteError) as info:
            write()
        assert "the disk is full" in os_error_words(info.value, info.value.filename)
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]      # nothing partial
    from safetensors import torch as st

    real_save = st.save_file
    monkeypatch.setattr(st, "save_file", lambda t, p, metadata=None: (
        real_save(t, p, metadata=metadata), open(p, "r+b").truncate(5),
        (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))[-1])
    import models.checkpoints as ck

    monkeypatch.setattr(ck, "save_file", st.save_file)
    with pytest.raises(WriteError):
        save_checkpoint(tmp_path / "w.safetensors", {"x": torch.zeros(3)},
                        {"family": "vae", "config": {}})
    assert not (tmp_path / "w.safetensors").exists()
