"""A bare reverse proxy on the gateway's server stack: the baseline the gateway is measured against.

It forwards the request body to the same path on one upstream and returns the
upstream's status, content type and body; nothing else. Each building block can
be swapped (event loop, HTTP parser, upstream client, JSON handling), so the
benchmark can compare the choices on equal terms.

    python bench/passthrough.py --upstream http://127.0.0.1:9000 --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Forward = Callable[[str, bytes], Awaitable[tuple[int, bytes, bytes]]]

CHOICES = {
    "loop": ("uvloop", "asyncio"),
    "http": ("httptools", "h11"),
    "client": ("aiohttp", "httpx"),
    "json": ("none", "orjson", "json"),
}


@dataclass(frozen=True)
class Options:
    loop: str = "uvloop"
    http: str = "httptools"
    client: str = "aiohttp"
    json: str = "none"

    def label(self) -> str:
        return f"{self.http}+{self.loop}, {self.client}, json={self.json}"


def _recode(name: str) -> Callable[[bytes], bytes]:
    """Parse and re-serialise a body, as a proxy that inspects JSON must."""
    if name == "orjson":
        return lambda body: orjson.dumps(orjson.loads(body))
    if name == "json":
        return lambda body: json.dumps(json.loads(body), separators=(",", ":")).encode()
    return lambda body: body


class UpstreamPool:
    """One pooled keep-alive client for the process, as the gateway keeps one."""

    def __init__(self, base_url: str, client: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self._session: Any = None

    async def start(self) -> Forward:
        if self.client == "httpx":
            import httpx

            self._session = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
                timeout=httpx.Timeout(10.0),
            )
            return self._httpx
        import aiohttp

        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=10.0),
        )
        return self._aiohttp

    async def close(self) -> None:
        if self._session is None:
            return
        if self.client == "httpx":
            await self._session.aclose()
        else:
            await self._session.close()

    async def _aiohttp(self, path: str, body: bytes) -> tuple[int, bytes, bytes]:
        async with self._session.post(
            self.base_url + path, data=body, headers={"content-type": "application/json"}
        ) as response:
            payload = await response.read()
            kind = response.headers.get("content-type", "application/json")
            return response.status, kind.encode("latin-1"), payload

    async def _httpx(self, path: str, body: bytes) -> tuple[int, bytes, bytes]:
        response = await self._session.post(
            self.base_url + path, content=body, headers={"content-type": "application/json"}
        )
        kind = response.headers.get("content-type", "application/json")
        return response.status_code, kind.encode("latin-1"), response.content


class PassthroughApp:
    """Raw ASGI: read the body, forward it, send the answer back."""

    def __init__(self, upstream: str, options: Options) -> None:
        self.pool = UpstreamPool(upstream, options.client)
        self.recode = _recode(options.json)
        self.forward: Forward | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.forward = await self.pool.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        assert self.forward is not None
        try:
            status, kind, payload = await self.forward(scope["path"], self.recode(b"".join(chunks)))
            payload = self.recode(payload) if status == 200 else payload
        except Exception as exc:  # a baseline proxy answers 502 for any failure
            status, kind, payload = 502, b"text/plain", f"upstream failed: {exc!r}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every response waits out the peer's delayed ACK (about 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def run(sock: socket.socket, upstream: str, options: Options) -> None:
    """Serve on an already bound socket until SIGTERM/SIGINT."""
    config = uvicorn.Config(
        PassthroughApp(upstream, options),
        loop=options.loop,
        http=options.http,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        server_header=False,
        date_header=False,
    )
    server = uvicorn.Server(config)
    if options.loop == "uvloop":
        import uvloop

        uvloop.run(server.serve(sockets=[sock]))
    else:
        asyncio.run(server.serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/passthrough.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    for name, values in CHOICES.items():
        parser.add_argument(f"--{name}", choices=values, default=values[0])
    args = parser.parse_args(argv)
    options = Options(args.loop, args.http, args.client, args.json)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"passthrough ({options.label()}) on http://{args.host}:{sock.getsockname()[1]} -> {args.upstream}",
        flush=True,
    )
    run(sock, args.upstream, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
