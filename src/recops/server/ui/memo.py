"""A bounded cache of computed values in which concurrent callers of one key compute it once.

Dashboard pages recompute their expensive parts (detector replays, the newest day's
threshold crossings) when new points arrive, and right then several visitors ask at once:
the first computes, the others wait for its result instead of each doing the same work on
the same two cores.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Least recently used values, at most ``size``; one computation per key at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._running: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value of ``key``, computed by ``compute`` unless cached or being computed."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                running = self._running.get(key)
                if running is None:  # this caller computes it
                    running = self._running[key] = threading.Event()
                    break
            running.wait()  # another caller's result (or its failure: then try again)
        try:
            value = compute()
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._running[key]
            running.set()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
