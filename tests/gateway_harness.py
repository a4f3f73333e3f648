"""Real servers for tests: sample upstreams and gateways on free loopback ports.

They run on an event loop in a background thread so that synchronous clients
(the official ``openai`` SDK, plain sockets) can talk to them from the test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from atlasgate.auth import hash_key
from atlasgate.config.load import ConfigOrigin, build_config
from atlasgate.demo.upstream import SampleUpstreams, start_sample_upstreams
from atlasgate.gateway.runtime import Gateway
from atlasgate.gateway.server import GatewayServer

T = TypeVar("T")

USER_KEY = "ag-test-user-key-0123456789"
OTHER_KEY = "ag-test-other-key-0123456789"
ADMIN_KEY = "ag-test-admin-key-0123456789"


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def base_config(samples: SampleUpstreams, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "keys": [
            {"id": "alice", "hash": hash_key(USER_KEY), "tenant": "acme"},
            {"id": "bob", "hash": hash_key(OTHER_KEY), "tenant": "acme"},
            {"id": "ops", "hash": hash_key(ADMIN_KEY), "tenant": "acme", "admin": True},
        ],
        "upstreams": {
            "openai": [{"name": "sample", "base_url": samples.chat_base_url,
                        "models": ["sample-chat", "sample-embed", "sample-slow"],
                        "timeout": 2}],
            "predict": [{"name": "sample-digits", "base_url": samples.predict_base_url}],
        },
        "audit": {"path": str(data_dir / "decisions.db"),
                  "signing_key": str(data_dir / "signing-key.pem"),
                  "checkpoint_interval": 0.5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class RunningGateway:
    thread: LoopThread
    gateway: Gateway
    server: GatewayServer
    task: asyncio.Task[None] | None = None
    config_path: Path | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.stop()
        if self.task is not None:
            self.thread.run(asyncio.wait_for(asyncio.shield(self.task), 15))


def start_gateway(thread: LoopThread, config: dict[str, Any], base_dir: Path,
                  config_path: Path | None = None) -> RunningGateway:
    cfg = build_config(config, ConfigOrigin(str(config_path) if config_path else None,
                                            base_dir, None))
    gateway = Gateway(cfg, config_path=str(config_path) if config_path else None)
    server = GatewayServer(gateway, "127.0.0.1", 0, handle_signals=False)
    running = RunningGateway(thread, gateway, server, config_path=config_path)
    gateway.observers.append(running.entries.append)

    async def launch() -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(server.serve())
        await server.wait_started(task)
        return task

    running.task = thread.run(launch())
    return running


def start_samples(thread: LoopThread) -> SampleUpstreams:
    return thread.run(start_sample_upstreams(slow_seconds=10.0))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, key: str | None = USER_KEY,
         headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    """A plain HTTP/1.1 request with the standard library, for raw-protocol tests."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["authorization"] = f"Bearer {key}"
    try:
        conn.request(method, parts.path, body=body, headers=all_headers)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        conn.close()
