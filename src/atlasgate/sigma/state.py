"""Where correlation windows live.

The interface is a timestamped set per key, the shape of a Redis sorted set
(``ZADD`` / ``ZREMRANGEBYSCORE`` / ``ZCOUNT`` / ``ZRANGEBYSCORE`` / ``DEL``), so a
store shared by gateway replicas can implement it directly;
``MemoryCorrelationState`` is the single-process store. Adding a member that is
already present moves it to the new timestamp, as ``ZADD`` does: that is how a
window of distinct values stays as small as the number of values.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import Protocol, runtime_checkable


@runtime_checkable
class CorrelationState(Protocol):
    def add(self, key: str, timestamp: float, member: str, horizon: float) -> None:
        """Set ``member``'s time to ``timestamp``; forget entries older than ``timestamp - horizon``."""

    def count(self, key: str, since: float) -> int:
        """How many members have a time at or after ``since``."""

    def entries(self, key: str, since: float) -> list[tuple[float, str]]:
        """Members with a time at or after ``since``, oldest first."""

    def clear(self, key: str) -> None:
        """Forget a key (after its correlation fired)."""


@runtime_checkable
class AsyncCorrelationState(Protocol):
    """The same operations for a store shared by replicas, awaited on the event loop."""

    async def add(self, key: str, timestamp: float, member: str, horizon: float) -> None: ...

    async def count(self, key: str, since: float) -> int: ...

    async def entries(self, key: str, since: float) -> list[tuple[float, str]]: ...

    async def clear(self, key: str) -> None: ...


class _Window:
    __slots__ = ("items", "times")

    def __init__(self) -> None:
        self.items: list[tuple[float, str]] = []
        self.times: dict[str, float] = {}


class MemoryCorrelationState:
    """In-process windows, bounded in keys (least recently used go first) and entries per key."""

    def __init__(self, max_keys: int = 100_000, max_entries: int = 10_000) -> None:
        self.max_keys = max_keys
        self.max_entries = max_entries
        self._data: OrderedDict[str, _Window] = OrderedDict()

    def add(self, key: str, timestamp: float, member: str, horizon: float) -> None:
        window = self._data.get(key)
        if window is None:
            window = self._data[key] = _Window()
            while len(self._data) > self.max_keys:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
        items, times = window.items, window.times
        previous = times.get(member)
        if previous is not None:
            del items[bisect.bisect_left(items, (previous, member))]
        times[member] = timestamp
        if not items or items[-1][0] <= timestamp:
            items.append((timestamp, member))
        else:
            bisect.insort(items, (timestamp, member))
        cutoff = bisect.bisect_left(items, (timestamp - horizon,))
        cutoff = max(cutoff, len(items) - self.max_entries)
        if cutoff > 0:
            for _, gone in items[:cutoff]:
                del times[gone]
            del items[:cutoff]

    def count(self, key: str, since: float) -> int:
        window = self._data.get(key)
        if window is None:
            return 0
        return len(window.items) - bisect.bisect_left(window.items, (since,))

    def entries(self, key: str, since: float) -> list[tuple[float, str]]:
        window = self._data.get(key)
        if window is None:
            return []
        return window.items[bisect.bisect_left(window.items, (since,)):]

    def clear(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
