import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def qt_stays_out():
    """The headless suite must run without PySide6 ever being imported."""
    yield
    assert "PySide6" not in sys.modules, "a headless test imported PySide6"


@pytest.fixture(autouse=True, scope="session")
def test_device():
    """LATENT_STUDIO_DEVICE=cuda (or mps) runs the headless tests' backends there."""
    import os

    from models import device as devices

    wanted = os.environ.get("LATENT_STUDIO_DEVICE", "cpu")
    chosen = devices.set_device(wanted)
    if chosen != wanted:
        pytest.exit(f"LATENT_STUDIO_DEVICE={wanted} is not available here", returncode=2)
    yield chosen
    devices.set_device("cpu")
