import threading
import time

import pytest

from studio.jobs import JobRunner


def work(n, *, ctx, delay=0.0):
    for i in range(n):
        ctx.report(i / n, preview=i if i == n // 2 else None)
        time.sleep(delay)
    return n * 10


def test_signals_arrive_in_order_on_the_main_thread(qtbot, runner):
    threads, results = [], []
    runner.job_started.connect(lambda *_: threads.append(threading.current_thread()))
    with qtbot.waitSignals([runner.job_started, runner.job_progress, runner.job_finished],
                           order="strict", timeout=5000):
        runner.submit("k", work, 1, label="Working", on_result=results.append)
    assert results == [10]
    assert threads == [threading.main_thread()]


def test_previews_and_progress_reach_the_callbacks(qtbot, runner):
    previews, progress = [], []
    runner.submit("k", work, 6, delay=0.04, on_preview=previews.append,
                  on_progress=progress.append)
    assert runner.wait_until_idle(5)
    assert previews == [3] and progress and progress == sorted(progress)


def test_latest_wins_and_stale_results_are_dropped(qtbot, runner):
    got = []
    gate = threading.Event()

    def stubborn(v, *, ctx):  # ignores cancel: its result must still be dropped
        gate.wait(2)
        return v

    runner.submit("scrub", stubborn, "first", on_result=got.append)
    for v in range(10):
        runner.submit("scrub", work, v, on_result=got.append)
    gate.set()
    assert runner.wait_until_idle(5)
    assert got == [90]


def test_keys_are_independent(qtbot, runner):
    got = {}
    runner.submit("a", work, 2, on_result=lambda r: got.setdefault("a", r))
    runner.submit("b", work, 3, on_result=lambda r: got.setdefault("b", r), lane="io")
    assert runner.wait_until_idle(5)
    assert got == {"a": 20, "b": 30}


def test_cancel_stops_now_and_delivers_nothing(qtbot, runner):
    got, started = [], threading.Event()

    def long(*, ctx):
        started.set()
        while True:
            ctx.check()
            time.sleep(0.005)

    runner.submit("long", long, on_result=got.append)
    assert started.wait(2)
    t0 = time.monotonic()
    with qtbot.waitSignal(runner.job_cancelled, timeout=2000) as blocker:
        runner.cancel("long")
    assert blocker.args == ["long"] and time.monotonic() - t0 < 0.5
    assert got == [] and not runner.is_busy()


def test_a_queued_job_never_starts_after_cancel(qtbot, runner):
    gate, ran = threading.Event(), []
    runner.submit("first", lambda *, ctx: gate.wait(2))
    runner.submit("second", lambda *, ctx: ran.append(1))
    runner.cancel("second")
    gate.set()
    assert runner.wait_until_idle(5)
    assert ran == []


def test_errors_become_messages(qtbot, runner):
    errors = []

    def broken(*, ctx):
        raise ValueError("the image is empty")

    with qtbot.waitSignal(runner.job_failed, timeout=2000) as blocker:
        runner.submit("k", broken, on_error=lambda m, d: errors.append((m, d)))
    key, message, details = blocker.args
    assert key == "k" and message == "the image is empty"
    assert "Traceback" in details and errors[0][0] == message


def test_unexpected_errors_name_their_type(qtbot, runner):
    with qtbot.waitSignal(runner.job_failed, timeout=2000) as blocker:
        runner.submit("k", lambda *, ctx: 1 / 0)
    assert blocker.args[1].startswith("ZeroDivisionError")


def test_failing_render_callback_is_a_message_not_a_crash(qtbot, runner):
    def bad_render(result):
        raise RuntimeError("render broke")

    with qtbot.waitSignal(runner.job_failed, timeout=2000) as blocker:
        runner.submit("k", work, 1, on_result=bad_render)
    assert "render broke" in blocker.args[1]


def test_synchronous_mode_runs_inline(qtbot, qapp):
    r = JobRunner(synchronous=True)
    got = []
    r.submit("k", work, 3, on_result=got.append)
    assert got == [30] and not r.is_busy()
    r.shutdown()


def test_shutdown_joins_threads_and_refuses_work(qtbot, qapp):
    r = JobRunner()
    names = {t.name for t in threading.enumerate()}
    assert {"studio-interactive", "studio-io", "studio-long"} <= names
    r.submit("k", work, 1000, delay=0.01)
    r.shutdown()
    alive = {t.name for t in threading.enumerate()}
    assert not {"studio-interactive", "studio-io", "studio-long"} & alive
    with pytest.raises(RuntimeError, match="shut down"):
        r.submit("k", work, 1)


def test_busy_changed_brackets_work(qtbot, runner):
    states = []
    runner.busy_changed.connect(states.append)
    runner.submit("k", work, 2)
    assert runner.wait_until_idle(5)
    assert states == [True, False]


def test_signals_to_python_slots_keep_reference_counts(qapp):
    """PySide6 6.12.0 releases None (or True) once per signal delivered to a Python slot; a
    session then aborts in the garbage collector. The pinned PySide6 must not."""
    import gc
    import sys

    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QPushButton

    class Source(QObject):
        changed = Signal(int)

    src, button = Source(), QPushButton()
    src.changed.connect(lambda i: i == 1)
    button.clicked.connect(lambda: None)
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    for _ in range(200):
        src.changed.emit(2)
        button.click()
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    assert all(abs(a - b) < 20 for a, b in zip(after, before)), (before, after)
