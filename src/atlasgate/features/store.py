"""Sliding-window counters per key, behind an interface a shared store can implement.

The in-memory store keeps, per key and window, one-second buckets and a running
total, so a hit costs O(1) amortised and a key costs at most one bucket per
second of its longest window. Idle keys are evicted least-recently-used first
once ``max_keys`` is reached, which bounds memory whatever the key cardinality.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WindowCount:
    window: float
    count: int
    first_seen: float  # time of the oldest hit still inside the window


class StateStore(Protocol):
    async def hit(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        """Record one event for ``key`` at ``now``; return the counts per window (this one included)."""
        ...

    async def close(self) -> None: ...


class _Window:
    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[float]] = deque()  # [second, count, first_ts]
        self.total = 0


class MemoryStateStore:
    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, list[_Window]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def hit(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        return self.hit_now(key, now, windows)

    def hit_now(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        state = self._keys.get(key)
        if state is None or len(state) != len(windows):
            state = [_Window() for _ in windows]
            self._keys[key] = state
            if len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        second = float(int(now))
        result = []
        for window, slot in zip(windows, state, strict=True):
            buckets = slot.buckets
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += 1
            else:
                buckets.append([second, 1, now])
            slot.total += 1
            horizon = now - window
            while buckets and buckets[0][0] + 1 <= horizon:
                slot.total -= int(buckets.popleft()[1])
            result.append(WindowCount(window, slot.total, buckets[0][2]))
        return result

    async def close(self) -> None:
        self._keys.clear()
