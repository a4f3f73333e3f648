"""Run the gateway under uvicorn (httptools parser, uvloop), chosen by benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn

from atlasgate.gateway.app import GatewayApp
from atlasgate.gateway.runtime import Gateway

T = TypeVar("T")


def uvicorn_config(app: GatewayApp, host: str, port: int) -> uvicorn.Config:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return uvicorn.Config(
        app, host=host, port=port, loop=loop, http="httptools", lifespan="on",
        access_log=False, log_level="warning", timeout_keep_alive=30,
        timeout_graceful_shutdown=10, server_header=False, date_header=False,
    )


class _Server(uvicorn.Server):
    """uvicorn, but a handled SIGTERM/SIGINT ends ``serve()`` normally after the drain.

    uvicorn re-raises the signal once it has shut down, which kills the process
    before the caller can close what it opened (the demo's sample upstreams).
    """

    def __init__(self, config: uvicorn.Config, handle_signals: bool) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class GatewayServer:
    """A uvicorn server around one Gateway; ``started`` is set once it accepts connections."""

    def __init__(self, gateway: Gateway, host: str, port: int, *, handle_signals: bool = True):
        self.gateway = gateway
        self.app = GatewayApp(gateway, handle_sighup=handle_signals)
        self.server = _Server(uvicorn_config(self.app, host, port), handle_signals)

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server is not listening")

    async def serve(self) -> None:
        await self.server.serve()

    async def wait_started(self, task: asyncio.Task[None]) -> None:
        while not self.server.started:
            if task.done():
                task.result()
                raise RuntimeError("the gateway stopped during start-up")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True


def configure_logging(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when installed (uvicorn only picks the loop in ``Server.run``)."""
    factory = None
    if importlib.util.find_spec("uvloop"):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
