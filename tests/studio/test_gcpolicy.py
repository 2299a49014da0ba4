"""The garbage collector kept out of frames and model loads (studio/gcpolicy.py).

Not timed: what a full collection would have to walk is counted instead."""

import gc
import threading

import numpy as np
import pytest

from models.registry import Registry
from studio import gcpolicy
from tests.conftest import make_tiny_vae


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()
    gc.enable()


def test_after_settling_a_full_collection_walks_only_what_is_new(unfrozen):
    junk = [{"n": i} for i in range(50_000)]        # stands for the window and models
    assert len(gc.get_objects()) > 50_000
    gcpolicy.settle()
    assert gc.get_freeze_count() > 50_000
    assert len(gc.get_objects()) < 5_000            # what the next full collection walks
    del junk


def test_a_model_load_runs_no_collection_and_is_frozen_after(tmp_path, unfrozen):
    make_tiny_vae(tmp_path)
    reg = Registry(tmp_path)
    gcpolicy.install(reg)
    collections = []

    def count(phase, info):
        if phase == "start":
            collections.append((info["generation"], gc.isenabled()))

    during = []

    def build_hook():
        during.append(gc.isenabled())
        return gcpolicy.loading()

    reg.load_guard = build_hook
    gc.callbacks.append(count)
    try:
        before = gc.get_freeze_count()
        reg.get("tiny-vae")
    finally:
        gc.callbacks.remove(count)
    assert during == [True] and gc.isenabled()
    assert gc.get_freeze_count() > before           # the loaded modules are frozen
    assert collections == []                        # none ran inside the load


def test_loads_on_two_threads_keep_collection_off_until_both_end(unfrozen):
    inside = threading.Event()
    release = threading.Event()

    def slow_load():
        with gcpolicy.loading():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=slow_load)
    t.start()
    inside.wait(5)
    with gcpolicy.loading():
        pass
    assert not gc.isenabled()                       # the other load is still going
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_frames_after_settling_make_no_cyclic_garbage(qtbot, tiny_weights, unfrozen):
    """Scrubbing the Latent Explorer: what each frame leaves for the collector."""
    from studio.app import MainWindow
    from studio.panels.latent import SCRUB_MAX, Slot

    win = MainWindow(registry=Registry(tiny_weights))
    qtbot.addWidget(win)
    win.show()
    panel = win.show_panel("latent")
    panel.set_slot(0, Slot("random", "a", seed=1))
    panel.set_slot(1, Slot("random", "b", seed=2))
    win.jobs.wait_until_idle(20)
    gcpolicy.install(win.registry)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for pos in np.linspace(0, SCRUB_MAX, 40).astype(int):
            panel.scrub_slider.setValue(int(pos))
            win.jobs.wait_until_idle(10)
            qtbot.wait(1)
        gc.collect()
        garbage = len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    win.close()
    # Each job was a reference cycle (job -> its context -> a closure over the job): 1,861
    # objects from these 40 frames before; none now.
    assert garbage < 40, f"{garbage} cyclic objects from 40 frames"
