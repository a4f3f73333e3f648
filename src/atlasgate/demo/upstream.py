"""Start the sample chat and predict upstreams, in the caller's event loop or standalone.

``atlasgate demo``, the tests and the benchmarks put these behind the gateway; run
``python -m atlasgate.demo.upstream`` to serve them on fixed ports for a gateway started by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web

from atlasgate.demo.sample_chat import create_chat_app
from atlasgate.demo.sample_classifier import (
    SampleClassifier,
    create_classifier_app,
    train_sample_classifier,
)

_SHUTDOWN_TIMEOUT = 1.0


@dataclass
class SampleUpstreams:
    """Running sample upstreams; ``close()`` stops them (also usable as ``async with``)."""

    host: str
    chat_port: int
    predict_port: int
    classifier: SampleClassifier
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    @property
    def chat_base_url(self) -> str:
        """OpenAI-style base URL, ending in ``/v1``, as the openai SDK and gateway.yaml take it."""
        return f"http://{_url_host(self.host)}:{self.chat_port}/v1"

    @property
    def predict_base_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.predict_port}"

    async def close(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation lets a client that gives up (a gateway timing out on sample-slow)
    # end the pending handler, so shutdown never waits for a long sleep.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


async def start_sample_upstreams(
    host: str = "127.0.0.1",
    chat_port: int = 0,
    predict_port: int = 0,
    *,
    chunk_delay: float = 0.0,
    slow_seconds: float = 30.0,
) -> SampleUpstreams:
    """Train the sample classifier (once per process) and serve both samples; port 0 = any free.

    Raises ``OSError`` when a port cannot be bound; nothing is left running in that case.
    """
    classifier = await asyncio.to_thread(train_sample_classifier)
    chat_app = create_chat_app(chunk_delay=chunk_delay, slow_seconds=slow_seconds)
    chat_runner, bound_chat = await _serve(chat_app, host, chat_port)
    try:
        predict_runner, bound_predict = await _serve(
            create_classifier_app(classifier), host, predict_port
        )
    except BaseException:
        await chat_runner.cleanup()
        raise
    return SampleUpstreams(
        host=host,
        chat_port=bound_chat,
        predict_port=bound_predict,
        classifier=classifier,
        _runners=[chat_runner, predict_runner],
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m atlasgate.demo.upstream",
        description="Serve the AtlasGate sample upstreams (sample-chat and sample-digits).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--chat-port", type=int, default=9000)
    parser.add_argument("--predict-port", type=int, default=9001)
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0,
        help="seconds between streamed chunks (default 0)",
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=30.0,
        help="how long sample-slow waits before answering (default 30)",
    )
    args = parser.parse_args(argv)
    for name in ("chat_port", "predict_port"):
        if not 0 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 65535")
    if args.chunk_delay < 0 or args.slow_seconds < 0:
        parser.error("--chunk-delay and --slow-seconds must not be negative")
    return args


async def _run(args: argparse.Namespace) -> None:
    upstreams = await start_sample_upstreams(
        args.host, args.chat_port, args.predict_port,
        chunk_delay=args.chunk_delay, slow_seconds=args.slow_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    info = upstreams.classifier
    print(
        f"sample-chat:   {upstreams.chat_base_url}  (models sample-chat, sample-embed, "
        "sample-slow)",
        flush=True,
    )
    print(
        f"{info.name}: {upstreams.predict_base_url}  (held-out accuracy {info.accuracy:.3f}; "
        f"/v1/models/{info.name}:predict, /v2/models/{info.name}/infer)",
        flush=True,
    )
    print("Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        await upstreams.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(_run(args))
        else:
            uvloop.run(_run(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot serve on {args.host}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
