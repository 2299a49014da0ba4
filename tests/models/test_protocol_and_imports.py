import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.protocol import BackendInfo, Cancelled, Capability, JobContext

ROOT = Path(__file__).resolve().parents[2]


def test_job_context_reports_clamped_and_cancels():
    seen = []
    ctx = JobContext(lambda f, p: seen.append((f, p)))
    ctx.report(0.5, "x")
    ctx.report(2.0)
    assert seen == [(0.5, "x"), (1.0, None)]
    ctx.cancel()
    with pytest.raises(Cancelled):
        ctx.report(0.9)
    with pytest.raises(Cancelled):
        ctx.check()


def test_capability_names_and_info_json():
    caps = Capability.LATENT | Capability.STYLE_MIX
    assert caps.names == ["latent", "style-mix"]
    info = BackendInfo("m", "vae", caps, image_shape=(64, 64, 1), latent_size=8)
    assert info.to_json()["capabilities"] == ["latent", "style-mix"]


def test_models_package_never_imports_qt():
    code = ("import sys, pkgutil, importlib, models\n"
            "for m in pkgutil.walk_packages(models.__path__, 'models.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in ('PySide6', 'pyqtgraph', 'sounddevice', 'superqt', 'studio') "
            "if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _lint(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint)], cwd=root, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def test_import_contract_passes_and_would_fail(tmp_path):
    assert _lint(ROOT).returncode == 0
    # The same contract on a copy where models/ imports Qt must fail.
    copy = tmp_path / "repo"
    for part in ("models", "studio"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "models" / "sneaky.py").write_text("from PySide6 import QtCore\n")
    result = _lint(copy)
    assert result.returncode != 0
    assert "models.sneaky -> PySide6" in result.stdout


def test_requests_check_their_data():
    import numpy as np
    import pytest

    from models.protocol import InpaintRequest, StyleMixRequest, VocodeRequest

    a, b = np.zeros((6, 4)), np.ones((6, 4))
    mix = StyleMixRequest(a, b, from_b=(4, 5, 4))
    assert mix.from_b == (4, 5) and mix.codes_a.dtype == np.float32
    assert np.array_equal(mix.mixed()[:, 0], [0, 0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"layers \[6\] are outside 0..5"):
        StyleMixRequest(a, b, from_b=(6,))
    with pytest.raises(ValueError, match="differ"):
        StyleMixRequest(a, np.ones((5, 4)), from_b=())
    req = InpaintRequest(np.zeros((8, 8, 1)), np.full((8, 8), 2.0))
    assert req.mask.max() == 1.0                       # 1 = repaint, clipped to [0, 1]
    with pytest.raises(ValueError, match="does not match"):
        InpaintRequest(np.zeros((8, 8, 1)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        VocodeRequest(np.full((80, 3), np.nan))
