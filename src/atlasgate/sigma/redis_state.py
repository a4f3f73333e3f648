"""Correlation windows in Redis, so every gateway replica sees the same windows.

Each window is a sorted set scored by time. Adding a member, dropping members
older than the window, capping the set's size and renewing its expiry happen in
one Lua script, atomically and in one round trip; a window nobody adds to expires
once its timespan has passed.
"""

from __future__ import annotations

from typing import Any

_ADD = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local horizon = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
redis.call('ZADD', key, now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - horizon))
local size = redis.call('ZCARD', key)
if size > cap then
  redis.call('ZREMRANGEBYRANK', key, 0, size - cap - 1)
end
redis.call('PEXPIRE', key, math.ceil(horizon * 1000) + 1000)
return size
"""


class RedisCorrelationState:
    """The ``AsyncCorrelationState`` protocol over Redis (``redis.asyncio``)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "atlasgate:c:",
                 max_entries: int = 10_000, client: Any = None) -> None:
        import redis.asyncio as redis

        self.client = client if client is not None else redis.Redis.from_url(url)
        self.prefix = prefix
        self.max_entries = max_entries
        self._add = self.client.register_script(_ADD)

    async def add(self, key: str, timestamp: float, member: str, horizon: float) -> None:
        await self._add(keys=[self.prefix + key],
                        args=[repr(timestamp), member, repr(horizon), self.max_entries])

    async def count(self, key: str, since: float) -> int:
        return int(await self.client.zcount(self.prefix + key, repr(since), "+inf"))

    async def entries(self, key: str, since: float) -> list[tuple[float, str]]:
        reply = await self.client.zrangebyscore(self.prefix + key, repr(since), "+inf",
                                                withscores=True)
        return [(float(score), m.decode() if isinstance(m, bytes) else m) for m, score in reply]

    async def clear(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    async def close(self) -> None:
        await self.client.aclose()


