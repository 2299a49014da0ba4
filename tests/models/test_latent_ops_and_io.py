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
    assert "center-cropped 120x80" in note and "resized" in note
    assert np.allclose(arr[0, 0], 1.0)  # transparency became white
    Image.new("RGB", (64, 64), "white").save(tmp_path / "w.jpg")
    gray, note = load_image(tmp_path / "w.jpg", (64, 64, 1))
    assert gray.shape == (64, 64, 1) and "inverted" in note and gray.max() < 0.05


def test_bad_image_files_are_clear(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(tmp_path / "empty.png", (64, 64, 1))
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(tmp_path / "text.png", (64, 64, 1))
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "gone.png", (64, 64, 1))


def test_strip_and_gif(tmp_path):
    frames = np.linspace(0, 1, 5, dtype=np.float32)[:, None, None, None] * np.ones((5, 8, 8, 1))
    strip = Image.open(save_strip(frames.astype(np.float32), tmp_path / "s.png"))
    assert strip.size == (5 * 8 + 4 * 2, 8)
    gif = Image.open(save_gif(frames.astype(np.float32), tmp_path / "a.gif", scale=2))
    assert gif.n_frames == 8 and gif.size == (16, 16)  # bounce: 5 forward + 3 back
