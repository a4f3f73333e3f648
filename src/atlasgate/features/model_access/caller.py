"""The bounded state of one caller's query stream against one model.

Memory per caller is fixed by the settings: a ring buffer of recent distinct
inputs (float32), their fingerprints, the last minimum distances, and per-second
counts for the sliding window. Counters are kept running so that one
query costs O(buffer) vector work and O(1) Python work, whatever the caller's history.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

import numpy as np

REPEAT, DISTINCT, OOD, MEMBER, KNN, PRINT = 1, 2, 4, 8, 16, 32
_BITS = (REPEAT, DISTINCT, OOD, MEMBER, KNN, PRINT)
ANCHORS = 8
MAX_INFLIGHT = 1024


class CallerState:
    __slots__ = (
        "anchors",
        "buffer",
        "classes",
        "compute",
        "counts",
        "filled",
        "flags",
        "full_records",
        "inflight",
        "instances",
        "mins",
        "norms",
        "pairs",
        "pending",
        "position",
        "prints",
        "regions",
        "seen",
        "seen_order",
        "text",
        "total",
        "widths",
    )

    def __init__(self, width: int, size: int, samples: int, print_size: int = 0) -> None:
        self.buffer = np.zeros((size, width), dtype=np.float32)
        self.norms = np.zeros(size, dtype=np.float32)
        self.filled = 0
        self.position = 0
        self.seen: set[int] = set()
        self.seen_order: deque[int] = deque()
        self.text: Any = None  # a text.TextBuffer once the caller sends text
        self.flags: deque[list[int]] = deque()  # per-second buckets, see "sliding window"
        self.counts = dict.fromkeys(_BITS, 0)
        self.total = 0
        self.instances = 0
        self.compute = 0
        self.mins: deque[float] = deque(maxlen=samples)
        self.prints = np.full((size, print_size), -1, dtype=np.int64)
        self.regions: set[int] = set()
        self.pairs: set[tuple[int, int]] = set()
        self.classes: set[int] = set()
        self.anchors: deque[list[Any]] = deque(maxlen=ANCHORS)  # [encoded row, near count, hash]
        self.full_records: set[str] = set()
        self.widths: dict[int, float] = {}
        self.inflight: dict[str, tuple[float, Any]] = {}
        self.pending: OrderedDict[str, tuple[list[int], list[str]]] = OrderedDict()

    def reshape(self, width: int) -> None:
        """Before any input is buffered, adopt the width the caller actually sends."""
        self.buffer = np.zeros((self.buffer.shape[0], width), dtype=np.float32)

    # ---- sliding window ---------------------------------------------------------------
    # One bucket per second with activity: [second, queries, one count per flag bit,
    # instances, compute]. A caller costs at most one bucket per second of the window,
    # whatever its rate.

    def _bucket(self, now: float) -> list[int]:
        second = int(now)
        buckets = self.flags
        if buckets and buckets[-1][0] == second:
            return buckets[-1]
        bucket = [second] + [0] * (3 + len(_BITS))
        buckets.append(bucket)
        return bucket

    def expire(self, horizon: float) -> None:
        buckets, counts = self.flags, self.counts
        while buckets and buckets[0][0] + 1 <= horizon:
            bucket = buckets.popleft()
            self.total -= bucket[1]
            for index, bit in enumerate(_BITS):
                counts[bit] -= bucket[2 + index]
            self.instances -= bucket[-2]
            self.compute -= bucket[-1]
        if len(self.widths) > 1:
            for width, seen in list(self.widths.items()):
                if seen < horizon:
                    del self.widths[width]

    def add_request(self, now: float, instances: int, compute: int) -> None:
        bucket = self._bucket(now)
        bucket[-2] += instances
        bucket[-1] += compute
        self.instances += instances
        self.compute += compute

    def record(self, now: float, bits: int) -> None:
        bucket = self._bucket(now)
        bucket[1] += 1
        self.total += 1
        for index, bit in enumerate(_BITS):
            if bits & bit:
                bucket[2 + index] += 1
                self.counts[bit] += 1

    @property
    def queries(self) -> int:
        return self.total

    # ---- exact repeats ----------------------------------------------------------------

    def is_repeat(self, digest: int, limit: int) -> bool:
        if digest in self.seen:
            return True
        self.seen.add(digest)
        self.seen_order.append(digest)
        if len(self.seen_order) > limit:
            self.seen.discard(self.seen_order.popleft())
        return False

    # ---- the buffer of recent distinct inputs -----------------------------------------

    def distances(self, row: np.ndarray) -> np.ndarray:
        filled = self.filled
        if filled == 0:
            return np.empty(0, dtype=np.float32)
        buffer = self.buffer[:filled]
        d2 = self.norms[:filled] - 2.0 * (buffer @ row) + float(row @ row)
        return np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2)

    def push(self, row: np.ndarray, fingerprint: np.ndarray | None) -> None:
        slot = self.position
        self.buffer[slot] = row
        self.norms[slot] = float(row @ row)
        if fingerprint is not None and self.prints.shape[1]:
            self.prints[slot] = -1
            self.prints[slot, : fingerprint.size] = fingerprint[: self.prints.shape[1]]
        self.position = (slot + 1) % self.buffer.shape[0]
        self.filled = min(self.filled + 1, self.buffer.shape[0])

    def match_print(self, fingerprint: np.ndarray) -> int:
        """Most hashes this fingerprint shares with any one buffered input's (Blacklight)."""
        if self.filled == 0 or fingerprint.size == 0:
            return 0
        stored = self.prints[: self.filled]
        return int(np.isin(stored, fingerprint).sum(axis=1).max())

    # ---- requests in flight -----------------------------------------------------------

    def start(self, event_id: str, now: float, event: Any) -> None:
        if len(self.inflight) >= MAX_INFLIGHT:
            self.inflight.pop(next(iter(self.inflight)))
        self.inflight[event_id] = (now, event)

    def in_flight(self, now: float, ttl: float, finished: str) -> int:
        done = [eid for eid, (started, event) in self.inflight.items()
                if started < now - ttl or finished in event]
        for eid in done:
            del self.inflight[eid]
        return len(self.inflight)

    def memory_bytes(self) -> int:
        """Approximate bytes held: the fixed arrays plus the variable-size tables."""
        size = self.buffer.nbytes + self.norms.nbytes + self.prints.nbytes
        size += 100 * len(self.seen) + 200 * len(self.flags)
        size += 64 * (len(self.regions) + len(self.pairs) + len(self.mins))
        return size
