"""Mask painting operations for inpainting."""

import numpy as np
import pytest

from models.image import masks


def test_brush_paints_a_stroke_and_the_eraser_takes_it_away():
    m = masks.brush(masks.empty(32, 32), 4, 16, 28, 16, radius=3)
    assert m[16, 4] == 1 and m[16, 16] == 1 and m[16, 28] == 1
    assert m[16, 0] == 0 and m[10, 16] == 0 and m[13, 16] == 1      # radius 3 reaches y 13
    soft = masks.brush(masks.empty(32, 32), 16, 16, 16, 16, radius=6, hardness=0.0)
    assert soft[16, 16] == 1 and 0 < soft[16, 19] < 1 and soft[16, 23] == 0
    e = masks.erase(m, 16, 0, 16, 31, radius=2)
    assert e[16, 16] == 0 and e[16, 4] == 1


def test_rectangle_fill_invert():
    m = masks.rectangle(masks.empty(10, 10), 7, 6, 2, 1)
    assert m.sum() == 6 * 6 and m[1, 2] == 1 and m[6, 7] == 1 and m[0, 0] == 0
    ring = masks.rectangle(masks.empty(12, 12), 2, 2, 9, 9)
    ring = masks.rectangle(ring, 3, 3, 8, 8, value=0.0)               # an outline
    filled = masks.fill(ring, 5, 5)
    assert filled[2:10, 2:10].min() == 1 and filled[0, 0] == 0
    assert np.array_equal(masks.fill(ring, 2, 2), ring)              # on paint: unchanged
    assert np.array_equal(masks.invert(masks.invert(ring)), ring)


def test_grow_shrink_feather_resize():
    m = masks.rectangle(masks.empty(20, 20), 8, 8, 11, 11)
    g = masks.grow(m, 2)
    assert g.sum() > m.sum() and g[8, 6] == 1 and g[8, 5] == 0
    s = masks.grow(g, -2)
    assert np.array_equal(s, m)
    f = masks.feather(m, 2.0)
    assert 0 < f[9, 7] < 1 and f[0, 0] < 0.01 and f.max() <= 1
    big = masks.resize(m, 40, 40)
    assert big.shape == (40, 40) and big[18, 18] == pytest.approx(1.0) and big[0, 0] == 0
