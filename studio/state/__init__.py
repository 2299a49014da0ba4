"""Qt-free panel states with change events (napari's layer models are the example): the
data a panel shows and edits, which views listen to and tests drive without a window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Events:
    """Named events: ``connect(name, callback)``; ``emit(name, *args)`` calls each callback
    in the order they were connected."""

    def __init__(self, *names: str) -> None:
        self._callbacks: dict[str, list[Callable[..., Any]]] = {n: [] for n in names}

    def connect(self, name: str, callback: Callable[..., Any]) -> None:
        if name not in self._callbacks:
            raise KeyError(f"no event '{name}' (events: {', '.join(self._callbacks)})")
        self._callbacks[name].append(callback)

    def disconnect(self, name: str, callback: Callable[..., Any]) -> None:
        self._callbacks[name].remove(callback)

    def emit(self, name: str, *args: Any) -> None:
        for callback in list(self._callbacks[name]):
            callback(*args)
