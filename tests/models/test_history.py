"""The history database: entries whole (big arrays inline), filters, stars, and a kill -9
right after a result loses nothing."""

import subprocess
import sys
import textwrap

import numpy as np

from models.history import History, thumbnail
from models.recipe import Recipe


def test_entries_filter_star_delete_and_keep_big_arrays(tmp_path):
    h = History(tmp_path / "h.db")
    big = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    r = Recipe.of("inpaint", {"seed": 3, "source": "photo.png"}, arrays={"mask": big})
    r.model = {"name": "m1"}
    first = h.add("Inpainting", r, thumbnail(rgb=np.zeros((200, 100, 3), np.uint8)))
    s = Recipe.of("generate", {"prompt": "a red house", "seed": 1})
    s.model = {"name": "sd"}
    h.add("Inpainting", s, thumbnail(rgb=np.zeros((16, 16, 1), np.uint8)))
    h.add("Spectrogram", Recipe.of("vocode", {}), thumbnail(audio=np.ones(100)), kind="sound")
    assert [e.task for e in h.entries()] == ["vocode", "generate", "inpaint"]   # newest first
    assert [e.task for e in h.entries(text="red")] == ["generate"]
    assert [e.task for e in h.entries(text="photo")] == ["inpaint"]
    assert [e.task for e in h.entries(panel="Spectrogram")] == ["vocode"]
    assert [e.task for e in h.entries(model="m1")] == ["inpaint"]
    back = h.recipe(first)
    assert np.array_equal(back.arrays["mask"], big)             # whole, no sidecar
    h.star(first)
    assert [e.id for e in h.entries(starred=True)] == [first]
    h.delete(first)
    assert len(h) == 2 and h.entries(starred=True) == []
    import io

    from PIL import Image

    thumbs = h.thumbs([e.id for e in h.entries()])
    sizes = sorted(Image.open(io.BytesIO(b)).size for b in thumbs.values())
    assert sizes == [(48, 48), (96, 48)]        # a glyph enlarged, a waveform


def test_a_kill_right_after_a_result_loses_nothing(tmp_path):
    db = tmp_path / "h.db"
    code = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from models.history import History, thumbnail
        from models.recipe import Recipe
        h = History({str(db)!r})
        h.add("Inpainting", Recipe.of("inpaint", {{"seed": 7}}),
              thumbnail(rgb=np.zeros((8, 8, 3), np.uint8)))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert res.returncode == -9
    h = History(db)
    assert len(h) == 1 and h.recipe(h.entries()[0].id).params == {"seed": 7}
