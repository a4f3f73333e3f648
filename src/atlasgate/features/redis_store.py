"""Sliding-window counters in Redis, so several gateway replicas see one count per caller.

Each key is a sorted set of hit times. One Lua script records a hit, drops hits
older than the longest window (a hit exactly one window old still counts, as in the
memory store), and returns the count and the oldest hit of every
window in a single round trip, atomically. Keys expire after the longest window of
inactivity, and a key holds at most ``max_hits`` entries (beyond that the oldest
are dropped and counts saturate), which bounds Redis memory whatever the traffic.
"""

from __future__ import annotations

import os
from typing import Any

from atlasgate.features.store import WindowCount

_HIT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local longest = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
redis.call('ZADD', key, now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - longest))
local size = redis.call('ZCARD', key)
if size > cap then
  redis.call('ZREMRANGEBYRANK', key, 0, size - cap - 1)
end
redis.call('PEXPIRE', key, math.ceil(longest * 1000) + 1000)
local out = {}
for i = 5, #ARGV do
  local low = now - tonumber(ARGV[i])
  out[#out + 1] = redis.call('ZCOUNT', key, low, '+inf')
  local first = redis.call('ZRANGEBYSCORE', key, low, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  out[#out + 1] = first[2] or ARGV[1]
end
return out
"""


class RedisStateStore:
    """The ``StateStore`` protocol over Redis (``redis.asyncio``)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "atlasgate:w:",
                 max_hits: int = 100_000, client: Any = None) -> None:
        import redis.asyncio as redis

        self.client = client if client is not None else redis.Redis.from_url(url)
        self.prefix = prefix
        self.max_hits = max_hits
        self._script = self.client.register_script(_HIT)

    async def hit(self, key: str, now: float, windows: tuple[float, ...]) -> list[WindowCount]:
        member = f"{now!r}:{os.urandom(6).hex()}"
        args = [repr(now), member, repr(max(windows)), self.max_hits, *(repr(w) for w in windows)]
        reply = await self._script(keys=[self.prefix + key], args=args)
        return [WindowCount(window, int(reply[2 * i]), float(reply[2 * i + 1]))
                for i, window in enumerate(windows)]

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
