import os

from studio.app import offscreen_platform

# A 1920x1200 offscreen screen, set before the QApplication exists.
os.environ["QT_QPA_PLATFORM"] = offscreen_platform()

import pytest  # noqa: E402

from models.registry import Registry  # noqa: E402
from studio.app import MainWindow  # noqa: E402
from studio.jobs import JobRunner  # noqa: E402


@pytest.fixture(autouse=True)
def collect_on_the_main_thread():
    """Windows closed by a test are freed here, on the main thread: left to Python's cyclic
    collector they may be freed on a job thread, where destroying Qt objects deadlocks with
    the main thread (PySide6 takes the GIL inside a Qt lock)."""
    yield
    import gc

    gc.collect()


@pytest.fixture
def runner(qapp):
    r = JobRunner()
    yield r
    r.shutdown()


@pytest.fixture
def window(qtbot, tiny_weights):
    """The main window over two tiny seeded VAEs, shown offscreen."""
    win = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture(scope="session")
def virtual_audio():
    """A real (virtual) sound device: a user-space PulseAudio null sink for the session."""
    from studio import audio
    from studio import virtual_audio as va

    started = va.start(rate=16000)
    audio.refresh_devices()
    yield va
    if started:
        va.stop()
