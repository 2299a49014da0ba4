"""The one job runner every panel shares; threads live here and nowhere else.

``submit(key, fn, ...)`` runs ``fn(*args, ctx=ctx, **kwargs)`` on a worker thread. One key per
panel or purpose: a new submit under a key cancels the job before it (a queued one is dropped
before it starts, a running one is asked to stop through its JobContext), and anything a
stale job still delivers is dropped on the main thread. That "latest wins" rule keeps slider
scrubbing smooth.

Workers emit private signals; Qt queues them to this object, which lives on the main thread,
so every callback and public signal arrives on the main thread. ``Cancelled`` is silent; any
other exception becomes a one-line message with the traceback as details.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, Signal

from models.checkpoints import CheckpointError
from models.device import configure_threads
from models.protocol import Cancelled, JobContext

# interactive: scrubs, previews, small decodes (latest wins); io: file reads and writes;
# long: jobs of seconds to minutes (data set builds, sampling runs, metrics over folders,
# training), so they never hold a scrub frame behind them. Each lane is one thread, so the
# GPU work of a lane never fights itself for memory.
LANES = ("interactive", "io", "long")
_PROGRESS_INTERVAL = 0.03  # seconds between progress signals (and previews) of one job
# MemoryError: a model that will not fit is refused before loading, in plain words.
_USER_ERRORS = (CheckpointError, ValueError, OSError, KeyError, MemoryError)


def describe_error(exc: BaseException) -> str:
    """One line for the status bar: the message alone for errors a user can act on."""
    from models.files import WriteError, os_error_words

    if isinstance(exc, WriteError):          # "the disk is full", never "System error."
        return os_error_words(exc, exc.filename)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    if isinstance(exc, _USER_ERRORS) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Job:
    id: int
    key: str
    label: str
    lane: str
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    ctx: JobContext | None
    on_result: Callable[[Any], None] | None = None
    on_progress: Callable[[float], None] | None = None
    on_preview: Callable[[Any], None] | None = None
    on_error: Callable[[str, str], None] | None = None
    last_emit: float = field(default=0.0)


class JobRunner(QObject):
    """Keyed, latest-wins background jobs with progress, previews and cancel.

    Parameters
    ----------
    synchronous
        Run every job inline in ``submit`` (tests, benchmarks of the blocking case).
    reserve_core
        Let torch use one core fewer than the machine has, so the UI keeps one.
    """

    job_started = Signal(str, str)  # key, label
    job_progress = Signal(str, float)  # key, fraction
    job_finished = Signal(str)  # key
    job_failed = Signal(str, str, str)  # key, message, details
    job_cancelled = Signal(str)  # key
    busy_changed = Signal(bool)

    _w_started = Signal(int)
    _w_progress = Signal(int, float, object)
    _w_done = Signal(int, object)
    _w_failed = Signal(int, str, str)
    _w_cancelled = Signal(int)

    def __init__(self, parent: QObject | None = None, synchronous: bool = False,
                 reserve_core: bool = True) -> None:
        super().__init__(parent)
        self.synchronous = synchronous
        self._next_id = 1
        self._current: dict[str, int] = {}  # key -> id of the newest job
        self._live: dict[int, _Job] = {}  # submitted, final signal not yet handled
        self.lane_of: dict[str, str] = {}  # key -> the lane its newest job ran in
        self._queues: dict[str, list[_Job]] = {lane: [] for lane in LANES}
        self._running: dict[str, _Job | None] = {lane: None for lane in LANES}
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        q = Qt.ConnectionType.QueuedConnection
        self._w_started.connect(self._on_worker_started, q)
        self._w_progress.connect(self._on_worker_progress, q)
        self._w_done.connect(self._on_worker_done, q)
        self._w_failed.connect(self._on_worker_failed, q)
        self._w_cancelled.connect(self._on_worker_cancelled, q)
        if not synchronous:
            if reserve_core:
                configure_threads(reserve=1)
            for lane in LANES:
                t = threading.Thread(target=self._work, args=(lane,), name=f"studio-{lane}",
                                     daemon=True)
                t.start()
                self._threads.append(t)

    # -- public API (main thread) ---------------------------------------------------------

    def submit(self, key: str, fn: Callable[..., Any], *args: Any, label: str = "",
               lane: str = "interactive", on_result: Callable[[Any], None] | None = None,
               on_progress: Callable[[float], None] | None = None,
               on_preview: Callable[[Any], None] | None = None,
               on_error: Callable[[str, str], None] | None = None, **kwargs: Any) -> int:
        """Run ``fn(*args, ctx=ctx, **kwargs)`` under ``key``; returns the job id.

        The callbacks run on the main thread, only for the newest job of ``key``.
        """
        if lane not in LANES:
            raise ValueError(f"unknown lane '{lane}' (one of {', '.join(LANES)})")
        if self._stopping:
            raise RuntimeError("the job runner is shut down")
        job_id = self._next_id
        self._next_id += 1
        job = _Job(job_id, key, label or key, lane, fn, args, kwargs, None,
                   on_result, on_progress, on_preview, on_error)
        # The context reaches its job through a weak reference: a closure over the job would
        # make job -> context -> closure -> job a reference cycle per job (with the job's
        # callbacks, ~15 objects left to the cyclic collector for every scrub frame).
        job.ctx = JobContext(partial(self._emit_progress, weakref.ref(job)))
        self._supersede(key)
        self._current[key] = job_id
        self._live[job_id] = job
        self.lane_of[key] = lane
        if self.synchronous:
            self._run(job)
            QCoreApplication.sendPostedEvents(self)
            return job_id
        was_busy = len(self._live) > 1
        with self._cond:
            self._queues[lane].append(job)
            self._cond.notify_all()
        if not was_busy:
            self.busy_changed.emit(True)
        return job_id

    def cancel(self, key: str) -> None:
        """Stop the job of ``key`` now: a queued one never starts, a running one stops at its
        next check. Its results are dropped."""
        self._supersede(key)
        self._current.pop(key, None)
        if not self._live:
            self.busy_changed.emit(False)

    def cancel_all(self, prefix: str = "") -> None:
        """Cancel every job, or every job whose key starts with ``prefix`` (a panel's
        keys start with its name: ``cancel_all("spectral-")``)."""
        keys = {*self._current, *(j.key for j in self._live.values())}
        for key in keys:
            if key.startswith(prefix):
                self.cancel(key)

    def is_busy(self, key: str | None = None) -> bool:
        if key is None:
            return bool(self._live)
        return any(j.key == key for j in self._live.values())

    def wait_until_idle(self, timeout: float = 30.0) -> bool:
        """Process events until every job's last signal has been handled; False on timeout."""
        end = time.monotonic() + timeout
        while self._live:
            if time.monotonic() > end:
                return False
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
            time.sleep(0.001)
        QCoreApplication.processEvents()
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything and join the worker threads."""
        self.cancel_all()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self._live.clear()

    # -- worker side ----------------------------------------------------------------------

    def _supersede(self, key: str) -> None:
        with self._cond:
            for lane, queue in self._queues.items():
                dropped = [j for j in queue if j.key == key]
                self._queues[lane] = [j for j in queue if j.key != key]
                for j in dropped:
                    self._live.pop(j.id, None)
            for j in self._running.values():
                if j is not None and j.key == key:
                    j.ctx.cancel()

    def _work(self, lane: str) -> None:
        while True:
            with self._cond:
                while not self._queues[lane] and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queues[lane].pop(0)
                self._running[lane] = job
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running[lane] = None

    def _run(self, job: _Job) -> None:
        self._w_started.emit(job.id)
        try:
            job.ctx.check()
            result = job.fn(*job.args, ctx=job.ctx, **job.kwargs)
        except Cancelled:
            self._w_cancelled.emit(job.id)
        except Exception as exc:  # every failure becomes a message, never a crash
            self._w_failed.emit(job.id, describe_error(exc), traceback.format_exc())
        else:
            self._w_done.emit(job.id, result)

    def _emit_progress(self, ref: weakref.ref, fraction: float, preview: Any) -> None:
        job = ref()
        if job is None:
            return
        now = time.monotonic()
        # Previews too: a sampler that previews every 5 ms would flood the main thread.
        if fraction < 1.0 and now - job.last_emit < _PROGRESS_INTERVAL:
            return
        job.last_emit = now
        self._w_progress.emit(job.id, fraction, preview)

    # -- main-thread delivery -------------------------------------------------------------

    def _fresh(self, job_id: int) -> _Job | None:
        job = self._live.get(job_id)
        if job is None or self._current.get(job.key) != job_id:
            return None
        return job

    def _finish(self, job_id: int) -> _Job | None:
        """Forget a job; returns it when it is still the newest of its key."""
        job = self._fresh(job_id)
        self._live.pop(job_id, None)
        if job is not None:
            self._current.pop(job.key, None)
        if not self._live:
            self.busy_changed.emit(False)
        return job

    def _on_worker_started(self, job_id: int) -> None:
        job = self._fresh(job_id)
        if job is not None:
            self.job_started.emit(job.key, job.label)

    def _on_worker_progress(self, job_id: int, fraction: float, preview: Any) -> None:
        job = self._fresh(job_id)
        if job is None:
            return
        if job.on_progress is not None:
            job.on_progress(fraction)
        if preview is not None and job.on_preview is not None:
            job.on_preview(preview)
        self.job_progress.emit(job.key, fraction)

    def _on_worker_done(self, job_id: int, result: Any) -> None:
        job = self._finish(job_id)
        if job is None:
            return
        if job.on_result is not None:
            try:
                job.on_result(result)
            except Exception as exc:  # a panel's render failing is a message too
                self._report_failure(job, describe_error(exc), traceback.format_exc())
                return
        self.job_finished.emit(job.key)

    def _on_worker_failed(self, job_id: int, message: str, details: str) -> None:
        job = self._finish(job_id)
        if job is not None:
            self._report_failure(job, message, details)

    def _report_failure(self, job: _Job, message: str, details: str) -> None:
        if job.on_error is not None:
            job.on_error(message, details)
        self.job_failed.emit(job.key, message, details)

    def _on_worker_cancelled(self, job_id: int) -> None:
        job = self._live.get(job_id)
        # A job superseded by a newer one of its key is not news; a plain cancel is.
        superseded = job is not None and self._current.get(job.key) not in (None, job_id)
        self._finish(job_id)
        if job is not None and not superseded:
            self.job_cancelled.emit(job.key)
