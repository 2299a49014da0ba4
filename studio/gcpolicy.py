"""Python's cyclic garbage collector kept out of the window's frames.

A full (generation 2) collection walks every container object the process holds; with
torch, numpy, diffusers and Qt loaded that is hundreds of thousands of objects (150 ms
measured), and it runs on whichever thread happens to cross the allocation threshold: mostly
the main thread, in the middle of a frame, or a model loader holding the interpreter lock
while the main thread waits. The objects alive once the window is up, and those a model load
creates, live as long as the studio does (or the model): scanning them again finds nothing.

* :func:`settle` collects once and freezes what is alive (``gc.freeze``: moved to a
  generation no collection visits), when the window is up;
* :func:`loading` wraps every model load (``Registry.load_guard``): no collection while
  tens of thousands of modules are made, then they are frozen (O(1));
* the young generations keep their ordinary, short collections of what was made since.

A frozen object that later becomes cyclic garbage is not reclaimed (a freed model's modules
are freed by reference counting, which freezing does not stop).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_loads = [0]             # loads in progress (several threads may load at once)


def settle() -> None:
    """Collect once, then freeze everything alive (call once the window is up)."""
    gc.collect()
    gc.freeze()


@contextmanager
def loading() -> Iterator[None]:
    """No cyclic collection during a model load; what it made is frozen afterwards."""
    with _lock:
        _loads[0] += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _loads[0] -= 1
            if _loads[0] == 0:
                gc.freeze()
                gc.enable()


def install(registry) -> None:
    """Guard ``registry``'s loads and settle the heap (call once the window is up)."""
    registry.load_guard = loading
    settle()
