"""Bounded time-indexed buffers the detectors keep their recent points in.

* :class:`WindowSums`: running sums of (bad, events) by window end, answering "the
  totals over the last W" in O(log n) with prefix sums; entries older than the longest
  window asked for are dropped.
* :class:`RollingMedian`: the median of the values seen in the last span of data time,
  kept sorted so the median costs nothing per point.
* :class:`RecentValues`: (time, value) pairs of the last span, in order.
"""

from __future__ import annotations

import bisect
from collections import deque
from datetime import datetime, timedelta


class WindowSums:
    """Prefix sums of two quantities over time, for sums over trailing windows."""

    def __init__(self, keep: timedelta) -> None:
        self.keep = keep
        self._at: list[datetime] = []
        self._a: list[float] = [0.0]  # prefix sums: _a[i] = sum of the first i entries
        self._b: list[float] = [0.0]
        self._head = 0  # entries before _head are expired
        self.first: datetime | None = None  # data time the buffer starts covering

    def add(self, start: datetime, at: datetime, a: float, b: float) -> None:
        if self.first is None:
            self.first = start
        self._at.append(at)
        self._a.append(self._a[-1] + a)
        self._b.append(self._b[-1] + b)
        cutoff = at - self.keep
        while self._head < len(self._at) and self._at[self._head] <= cutoff:
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._at):
            self._at = self._at[self._head :]
            self._a = self._a[self._head :]
            self._b = self._b[self._head :]
            self._head = 0

    def sums(self, now: datetime, span: timedelta) -> tuple[float, float]:
        """Totals of entries whose window ended in ``(now - span, now]``."""
        lo = bisect.bisect_right(self._at, now - span, lo=self._head)
        hi = bisect.bisect_right(self._at, now, lo=self._head)
        return self._a[hi] - self._a[lo], self._b[hi] - self._b[lo]

    def covers(self, now: datetime, span: timedelta) -> bool:
        """Whether data reaches back at least ``span`` before ``now``."""
        return self.first is not None and self.first <= now - span

    def __len__(self) -> int:
        return len(self._at) - self._head


class RollingMedian:
    """The median of values observed during the last ``span`` of data time."""

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self._order: deque[tuple[datetime, float]] = deque()
        self._sorted: list[float] = []

    def add(self, at: datetime, value: float) -> None:
        self._order.append((at, value))
        bisect.insort(self._sorted, value)
        self.expire(at)

    def expire(self, now: datetime) -> None:
        cutoff = now - self.span
        while self._order and self._order[0][0] <= cutoff:
            _, old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def median(self) -> float | None:
        n = len(self._sorted)
        if n == 0:
            return None
        mid = n // 2
        return self._sorted[mid] if n % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2

    def __len__(self) -> int:
        return len(self._sorted)


class RecentValues:
    """(time, value) pairs whose time is within ``span`` of the latest one."""

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self._items: deque[tuple[datetime, float]] = deque()

    def add(self, at: datetime, value: float) -> None:
        self._items.append((at, value))
        cutoff = at - self.span
        while self._items and self._items[0][0] <= cutoff:
            self._items.popleft()

    def items(self) -> list[tuple[datetime, float]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)
