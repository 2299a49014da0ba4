"""FID, KID and IS: our Frechet distance against scipy's sqrtm on the same features."""

import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from models.eval import fid


def scipy_fid(f1, f2):
    m1, s1 = f1.mean(0), np.cov(f1, rowvar=False)
    m2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root.real))


def blobs(n, seed, shift):
    rng = np.random.default_rng(seed)
    img = np.full((n, 64, 64, 3), 255, np.uint8)
    for k in range(n):
        r = rng.integers(8, 24)
        cy, cx = rng.integers(16, 48, 2) + shift
        yy, xx = np.ogrid[:64, :64]
        img[k][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return img


@pytest.fixture(scope="module")
def inception():
    return fid.InceptionFeatures()


def test_fid_agrees_with_scipy_on_inception_features(inception):
    fa = inception(blobs(48, 0, 0))
    fb = inception(blobs(48, 1, 10))
    assert fa.shape == (48, 2048)
    ours, ref = fid.fid_from_features(fa, fb), scipy_fid(fa, fb)
    assert ours > 1.0
    assert abs(ours - ref) / ref < 1e-3
    # Same distribution, different draws: much closer than the shifted set.
    near = fid.fid_from_features(fa, inception(blobs(48, 2, 0)))
    assert near < ours


def test_fid_of_a_set_with_itself_is_zero_and_kid_orders_sets():
    rng = np.random.default_rng(0)
    f1 = rng.normal(size=(400, 32))
    f2 = rng.normal(size=(400, 32)) + 0.5
    f3 = rng.normal(size=(400, 32)) + 0.05
    assert abs(fid.fid_from_features(f1, f1)) < 1e-8
    assert fid.fid_from_features(f1, f2) == pytest.approx(scipy_fid(f1, f2), rel=1e-6)
    k_far, _ = fid.kid_from_features(f1, f2, subsets=20, subset_size=200)
    k_near, _ = fid.kid_from_features(f1, f3, subsets=20, subset_size=200)
    assert k_far > 10 * abs(k_near)


def test_inception_score_by_hand():
    # Each image certain of its own class among 4: KL = log 4, IS = 4.
    probs = np.eye(4)[np.arange(40) % 4]
    assert fid.inception_score(probs, splits=2)[0] == pytest.approx(4.0, rel=1e-6)
    # All images the same uncertain distribution: IS = 1.
    assert fid.inception_score(np.full((10, 5), 0.2), splits=1)[0] == pytest.approx(1.0)


def test_resize_matches_tf_legacy_sampling():
    import torch

    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    y = fid.tf_bilinear_resize(x, 8)
    # TF1 legacy: output pixel j samples source j * 4 / 8 = j / 2 (no half-pixel centres).
    assert y[0, 0, 0, :4].tolist() == pytest.approx([0, 0.5, 1, 1.5])
    assert y[0, 0, 0, -1] == pytest.approx(3.0)  # border repeated, not extrapolated


def test_folder_loading_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        fid.load_folder(tmp_path / "nope")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="at least 2"):
        fid.load_folder(tmp_path)
    Image.new("RGB", (9, 9)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="differ in size"):
        fid.load_folder(tmp_path)


def test_too_few_images_come_with_a_warning():
    from models.eval.fid import sample_size_warning

    assert "mean nothing" in sample_size_warning(6, 300, 2048)
    assert "fewer than the 2048 feature dimensions" in sample_size_warning(500, 800, 2048)
    assert sample_size_warning(3000, 5000, 2048) == ""


def test_fid_of_few_images_with_themselves_is_zero_not_negative():
    from models.eval.fid import fid_from_features

    # Six images of 64 features: a rank-deficient covariance whose round-off made the
    # distance come out a little below zero.
    f = np.random.default_rng(0).normal(size=(6, 64)) * 30
    assert fid_from_features(f, f) == 0.0


def test_a_metric_reports_progress_through_all_its_stages(tmp_path):
    """Reading each folder and its features are stages of one bar (it never goes back,
    and moves during the reading of a big folder, not only at the end)."""
    from PIL import Image

    from models.protocol import JobContext
    from models.registry import default_registry
    from models.tasks.metrics import compute_metric

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(40):
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    seen = []
    res = compute_metric(default_registry(), "fid", tmp_path / "a", tmp_path / "b", "glyphs",
                         ctx=JobContext(lambda f, _p: seen.append(f)))
    assert res["n_a"] == res["n_b"] == 40
    assert seen == sorted(seen)
    for lo, hi in ((0.0, 0.15), (0.15, 0.5), (0.5, 0.65), (0.65, 1.0)):
        assert any(lo <= f < hi for f in seen), (lo, hi, seen)
