"""Where correlation windows live.

The interface is a timestamped set per key, the shape of a Redis sorted set
(``ZADD``/``ZREMRANGEBYSCORE``/``ZRANGEBYSCORE``/``DEL``), so a store shared by
gateway replicas can implement it directly; ``MemoryCorrelationState`` is the
single-process store.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import Protocol, runtime_checkable


@runtime_checkable
class CorrelationState(Protocol):
    def add(self, key: str, timestamp: float, member: str, horizon: float) -> None:
        """Record ``member`` at ``timestamp``; forget entries older than ``timestamp - horizon``."""

    def entries(self, key: str, since: float) -> list[tuple[float, str]]:
        """Entries at or after ``since``, oldest first."""

    def clear(self, key: str) -> None:
        """Forget a key (after its correlation fired)."""


class MemoryCorrelationState:
    """In-process windows, bounded in keys and in entries per key."""

    def __init__(self, max_keys: int = 100_000, max_entries: int = 10_000) -> None:
        self.max_keys = max_keys
        self.max_entries = max_entries
        self._data: OrderedDict[str, list[tuple[float, str]]] = OrderedDict()

    def add(self, key: str, timestamp: float, member: str, horizon: float) -> None:
        entries = self._data.get(key)
        if entries is None:
            entries = self._data[key] = []
            while len(self._data) > self.max_keys:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
        if not entries or entries[-1][0] <= timestamp:
            entries.append((timestamp, member))
        else:
            bisect.insort(entries, (timestamp, member))
        cutoff = bisect.bisect_left(entries, (timestamp - horizon,))
        excess = len(entries) - self.max_entries
        if cutoff or excess > 0:
            del entries[: max(cutoff, excess)]

    def entries(self, key: str, since: float) -> list[tuple[float, str]]:
        entries = self._data.get(key)
        if not entries:
            return []
        return entries[bisect.bisect_left(entries, (since,)):]

    def clear(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
