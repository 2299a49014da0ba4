"""Statistics checked against values computed by hand."""

import math

import numpy as np
import pytest

from models.eval import stats


def test_mean_ci_matches_hand_computation():
    # mean 3, sd sqrt(2.5) = 1.58114, t(0.975, 4) = 2.776445, half width = 1.963243
    ci = stats.mean_ci([1, 2, 3, 4, 5])
    assert ci.mean == 3 and ci.n == 5
    assert ci.sd == pytest.approx(1.5811388, rel=1e-6)
    assert ci.half_width == pytest.approx(2.776445 * 1.5811388 / math.sqrt(5), rel=1e-5)
    assert (ci.low, ci.high) == pytest.approx((1.036757, 4.963243), abs=1e-5)
    assert math.isnan(stats.mean_ci([4]).low) and stats.mean_ci([]).n == 0


def test_holm_step_down():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_wilson_interval_by_hand():
    # k=8, n=10, z=1.959964: centre (0.8 + z^2/20) / (1 + z^2/10), etc.
    z = 1.959964
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert stats.wilson(8, 10) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert stats.wilson(8, 10) == pytest.approx((0.490162, 0.943318), abs=1e-6)


def test_preference_sign_test():
    p = stats.preference("x", "y", 8, 2, 3)
    # Two-sided exact binomial: 2 * P(X <= 2 | n=10) = 2 * 56/1024 = 0.109375
    assert p.p == pytest.approx(0.109375) and p.share_a == 0.8 and p.ties == 3


def test_pairwise_mann_whitney_and_correction():
    tests = stats.pairwise_mann_whitney({"a": [1, 2, 3, 2, 1], "b": [4, 5, 4, 5, 3],
                                         "c": [1, 2, 2, 3, 3]})
    by = {(t.a, t.b): t for t in tests}
    # U for a vs b: only 3 = 3 ties (0.5): U = 0.5
    assert by[("a", "b")].statistic == 0.5
    assert by[("a", "b")].p_holm == pytest.approx(min(1, 3 * min(t.p for t in tests)))
    assert by[("a", "b")].significant and not by[("a", "c")].significant


def test_mushra_post_screening():
    keep = stats.mushra_screen({
        "good": [100] * 20,
        "one slip": [100] * 17 + [80] * 3,  # 15 %: kept
        "sloppy": [100] * 16 + [80] * 4,  # 20 %: dropped
    })
    assert keep == {"good": True, "one slip": True, "sloppy": False}


def test_box_stats():
    b = stats.box_stats([0, 10, 20, 30, 40, 1000])
    assert b.median == 25 and b.q1 == 12.5 and b.q3 == 37.5
    assert b.high == 40  # 1000 is an outlier beyond 1.5 IQR
    assert np.isclose(b.ci.mean, 1100 / 6)


def test_results_json_of_one_rating_is_valid_json():
    """One rating has no sd or interval: written as null, never NaN (not JSON)."""
    import json

    from models.eval.study import json_safe

    res = {"mos": {"a": {"mean": 4.0, "sd": float("nan"), "ci95": [float("nan"), 4.0],
                         "n": 1}}, "inf": float("inf")}
    text = json.dumps(json_safe(res), allow_nan=False)
    back = json.loads(text)
    assert back["mos"]["a"]["sd"] is None and back["mos"]["a"]["ci95"] == [None, 4.0]
    assert back["inf"] is None and back["mos"]["a"]["mean"] == 4.0
