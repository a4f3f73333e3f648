"""Correlation windows shared through a real Redis, as gateway replicas share them."""

from __future__ import annotations

import os

import pytest

from atlasgate.sigma import SigmaEngine
from atlasgate.sigma.redis_state import RedisCorrelationState

RULES = """
title: failed call
name: failed
logsource: {product: atlasgate}
detection:
  s:
    http.response.status_code: 500
  condition: s
---
title: many failures
correlation: {type: event_count, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {gte: 3}}
---
title: fail on many models
correlation: {type: value_count, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {gte: 2, field: api.model}}
"""


@pytest.fixture
async def redis_state():
    import redis.asyncio as redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.ping()
    except (redis.ConnectionError, OSError):
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"atlasgate-test:{os.urandom(4).hex()}:"
    state = RedisCorrelationState(client=client, prefix=prefix)
    yield state
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await state.close()


def failed(i: int, model: str = "m") -> dict:
    return {"event.id": f"e{i}", "api.method": "chat", "http.response.status_code": 500,
            "client.key_id": "k1", "api.model": model}


async def test_replicas_sharing_redis_see_one_window(redis_state):
    replica_a = SigmaEngine.from_text(RULES, state=redis_state)
    replica_b = SigmaEngine.from_text(RULES, state=redis_state)
    assert await replica_a.evaluate_async(failed(0), now=100.0) == []
    assert await replica_b.evaluate_async(failed(1), now=101.0) == []
    fired = {m.title: m for m in await replica_a.evaluate_async(failed(2, "other"), now=102.0)}
    assert set(fired) == {"many failures", "fail on many models"}
    assert fired["many failures"].event_ids == ("e0", "e1", "e2")
    assert fired["many failures"].group_by == {"client.key_id": "k1"}


async def test_event_count_over_redis_matches_the_memory_store(redis_state):
    shared = SigmaEngine.from_text(RULES, state=redis_state)
    local = SigmaEngine.from_text(RULES)
    events = [(float(t), failed(i, ["a", "a", "b", "b", "c"][i % 5]))
              for i, t in enumerate([0, 10, 20, 90, 95, 100, 170, 171, 172])]
    over_redis = [[(m.title, m.event_ids) for m in await shared.evaluate_async(e, now=t)]
                  for t, e in events]
    in_memory = [[(m.title, m.event_ids) for m in local.evaluate(e, now=t)] for t, e in events]
    assert over_redis == in_memory
    assert any(over_redis)


async def test_redis_windows_behave_like_sorted_sets_and_expire(redis_state):
    await redis_state.add("k", 1.0, "a", 60)
    await redis_state.add("k", 2.0, "b", 60)
    await redis_state.add("k", 3.0, "a", 60)
    assert await redis_state.entries("k", 0) == [(2.0, "b"), (3.0, "a")]
    assert await redis_state.count("k", 2.5) == 1
    await redis_state.add("k", 100.0, "c", 60)
    assert await redis_state.entries("k", 0) == [(100.0, "c")]
    ttl = await redis_state.client.pttl(redis_state.prefix + "k")
    assert 0 < ttl <= 61_000
    await redis_state.clear("k")
    assert await redis_state.count("k", 0) == 0


def test_a_shared_state_needs_the_async_entry_point():
    engine = SigmaEngine.from_text(RULES, state=RedisCorrelationState(
        "redis://127.0.0.1:6379/0"))
    with pytest.raises(TypeError, match="evaluate_async"):
        engine.evaluate(failed(0))
