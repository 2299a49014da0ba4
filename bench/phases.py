"""Gaps of a 5 ms main-thread timer, per phase of a run in the window (loading,
generating, ...): the largest and the 99.9th percentile, as the benches report them."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


class PhaseGaps:
    """Start it, name the phase as the run goes on, pump events until something is done;
    :meth:`report` gives ``largest_gap_ms_while_<phase>`` and ``p99_9_gap_ms_while_<phase>``."""

    def __init__(self, first: str) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.clock = QElapsedTimer()
        self.clock.start()
        self.gaps: dict[str, list[float]] = {first: []}
        self.phase = first
        self.last = self._now()
        self.ticker = QTimer()
        self.ticker.setInterval(5)
        self.ticker.timeout.connect(self._tick)
        self.ticker.start()

    def _now(self) -> float:
        return self.clock.nsecsElapsed() / 1e6

    def _tick(self) -> None:
        now = self._now()
        self.gaps[self.phase].append(now - self.last)
        self.last = now

    def enter(self, phase: str) -> None:
        """From now on gaps count for ``phase`` (the time before is not a gap of it)."""
        self.gaps.setdefault(phase, [])
        self.phase = phase
        self.last = self._now()

    @staticmethod
    def pump_until(done: Callable[[], bool], limit: float) -> float:
        """Process events until ``done()`` (or ``limit`` seconds); the seconds it took."""
        from PySide6.QtCore import QCoreApplication

        t0 = time.monotonic()
        while not done() and time.monotonic() - t0 < limit:
            QCoreApplication.processEvents()
            time.sleep(0.001)
        return time.monotonic() - t0

    def stop(self) -> None:
        self.ticker.stop()

    def report(self, *phases: str) -> dict[str, float]:
        out = {}
        for p in phases:
            g = self.gaps.get(p) or [0.0]
            out[f"largest_gap_ms_while_{p}"] = round(max(g), 1)
            out[f"p99_9_gap_ms_while_{p}"] = round(float(np.percentile(g, 99.9)), 1)
        return out
