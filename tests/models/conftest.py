import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def qt_stays_out():
    """The headless suite must run without PySide6 ever being imported."""
    yield
    assert "PySide6" not in sys.modules, "a headless test imported PySide6"
