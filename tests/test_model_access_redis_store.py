"""The Redis state store: the same window semantics as memory, shared by gateway replicas.

Runs against the real Redis at 127.0.0.1:6379. Without one the tests skip, except under
CI=true, where a missing Redis is a failure (CI starts one).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from atlasgate.features.redis_store import RedisStateStore
from atlasgate.features.store import MemoryStateStore
from gateway_harness import LoopThread, RunningGateway, base_config, http

URL = "redis://127.0.0.1:6379/0"


def _reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module", autouse=True)
def redis_up() -> None:
    if _reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 and CI=true (CI must start it)")
    pytest.skip("no Redis at 127.0.0.1:6379 (start redis-server to run these tests)")


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"atlasgate-test:{uuid.uuid4().hex}:"
    yield name
    import redis

    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_counts_follow_each_window_like_the_memory_store(prefix: str) -> None:
    async def scenario() -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        redis_store = RedisStateStore(URL, prefix=prefix)
        memory = MemoryStateStore()
        windows = (10.0, 60.0)
        out_redis, out_memory = [], []
        for t in (1000.0, 1004.0, 1009.0, 1015.0, 1030.0, 1075.0):
            a = await redis_store.hit("caller", t, windows)
            b = await memory.hit("caller", t, windows)
            out_redis.append([(c.count, c.first_seen) for c in a])
            out_memory.append([(c.count, c.first_seen) for c in b])
        await redis_store.close()
        return out_redis, out_memory

    from_redis, from_memory = run(scenario())
    assert [[c for c, _ in row] for row in from_redis] == [[c for c, _ in row] for row in from_memory]
    assert from_redis[3] == [(2, 1009.0), (4, 1000.0)]
    assert from_redis[5] == [(1, 1075.0), (3, 1015.0)]


def test_two_store_instances_share_one_count(prefix: str) -> None:
    async def scenario() -> list[int]:
        first, second = RedisStateStore(URL, prefix=prefix), RedisStateStore(URL, prefix=prefix)
        counts = []
        for i in range(6):
            store = first if i % 2 == 0 else second
            counts.append((await store.hit("shared", 5000.0 + i, (60.0,)))[0].count)
        await first.close()
        await second.close()
        return counts

    assert run(scenario()) == [1, 2, 3, 4, 5, 6]


def test_keys_expire_and_are_capped(prefix: str) -> None:
    import redis

    async def scenario() -> int:
        store = RedisStateStore(URL, prefix=prefix, max_hits=5)
        count = 0
        for i in range(12):
            count = (await store.hit("capped", 100.0 + i, (3600.0,)))[0].count
        await store.close()
        return count

    assert run(scenario()) == 5
    client = redis.Redis.from_url(URL)
    assert client.zcard(f"{prefix}capped") == 5
    ttl = client.pttl(f"{prefix}capped")
    assert 3_600_000 < ttl <= 3_601_000


@pytest.fixture
def two_replicas(loop_thread: LoopThread, samples, tmp_path: Path, prefix: str  # type: ignore[no-untyped-def]
                 ) -> Iterator[Callable[[], list[RunningGateway]]]:
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.gateway.server import GatewayServer

    started: list[RunningGateway] = []

    def start() -> list[RunningGateway]:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            config = base_config(samples, folder)
            cfg = build_config(config, ConfigOrigin(None, folder, None))

            async def launch(cfg=cfg):  # type: ignore[no-untyped-def]
                gateway = Gateway(cfg, store=RedisStateStore(URL, prefix=prefix))
                server = GatewayServer(gateway, "127.0.0.1", 0, handle_signals=False)
                task = asyncio.get_running_loop().create_task(server.serve())
                await server.wait_started(task)
                return gateway, server, task

            gateway, server, task = loop_thread.run(launch())
            running = RunningGateway(loop_thread, gateway, server, task)
            gateway.observers.append(running.entries.append)
            started.append(running)
        return started

    yield start
    for running in started:
        running.stop()


def test_gateway_replicas_count_one_caller_together(two_replicas, samples) -> None:  # type: ignore[no-untyped-def]
    first, second = two_replicas()
    row = samples.classifier.X[0].astype(float).tolist()
    body = orjson.dumps({"instances": [row]})
    for i in range(6):
        gateway = first if i % 2 == 0 else second
        assert http("POST", f"{gateway.url}/v1/models/sample-digits:predict", body).status == 200
    counts = [e["event"]["api.request_count"] for e in sorted(
        first.entries + second.entries, key=lambda e: e["event"]["@timestamp"])]
    assert counts == [1, 2, 3, 4, 5, 6]
