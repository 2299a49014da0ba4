"""Training batches made ahead in a daemon thread (numpy augmentation beside torch's step)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


def prefetch(make: Callable[[], Any], depth: int = 4, name: str = "batches"
             ) -> tuple[queue.Queue, threading.Event]:
    """A queue that ``make()``'s results fill ahead of use; set the event to stop the thread."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            item = make()
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue

    threading.Thread(target=work, daemon=True, name=name).start()
    return q, stop
