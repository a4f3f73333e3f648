"""Sliding-window counters per key, behind an interface a shared store can implement.

The in-memory store keeps, per key and window, ``BUCKETS`` buckets (one more while
the window's edge cuts through the oldest) and a running total, so a hit costs O(1)
amortised and a key's memory is bounded per window whatever the traffic (with
one-second buckets, a caller active every second for an hour held 3,600 of them for
its 1 h window alone). A bucket spans ``window / BUCKETS`` seconds (at least one), so
windows of up to a minute are exact to the second, and a longer one may still count
hits up to one bucket (1/60 of the window) older than the window. Idle keys are
evicted least-recently-used first once ``max_keys`` is reached, which bounds memory
whatever the key cardinality.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class WindowCount:
    """One window's count for one key (not frozen: several are made for every request,
    and a frozen dataclass's constructor costs twice as much)."""

    window: float
    count: int
    first_seen: float  # time of the oldest hit still inside the window


class StateStore(Protocol):
    async def hit(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        """Record one event for ``key`` at ``now``; return the counts per window (this one included)."""
        ...

    async def close(self) -> None: ...


BUCKETS = 60


def bucket_width(window: float) -> float:
    return max(1.0, window / BUCKETS)


class _Window:
    __slots__ = ("buckets", "total", "width")

    def __init__(self, window: float) -> None:
        self.buckets: deque[list[float]] = deque()  # [bucket start, count, first_ts]
        self.total = 0
        self.width = bucket_width(window)


class MemoryStateStore:
    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        # Per key: the windows its slots were made for, and one slot per window.
        self._keys: OrderedDict[str, tuple[tuple[float, ...], list[_Window]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def hit(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        return self.hit_now(key, now, windows)

    def hit_now(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        held = self._keys.get(key)
        if held is None or held[0] != windows:
            state = [_Window(window) for window in windows]
            self._keys[key] = (windows, state)
            if held is not None:
                self._keys.move_to_end(key)
            elif len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            state = held[1]
            self._keys.move_to_end(key)
        result = []
        for window, slot in zip(windows, state):  # noqa: B905 (one slot per window)
            buckets = slot.buckets
            width = slot.width
            start = (now // width) * width
            if buckets and buckets[-1][0] == start:
                buckets[-1][1] += 1
            else:
                buckets.append([start, 1, now])
            slot.total += 1
            horizon = now - window
            while buckets and buckets[0][0] + width <= horizon:
                slot.total -= int(buckets.popleft()[1])
            result.append(WindowCount(window, slot.total, buckets[0][2]))
        return result

    async def close(self) -> None:
        self._keys.clear()
