"""The HTTP client to upstream models: one pooled aiohttp session for the process.

aiohttp is chosen by benchmark (see bench/bench_gateway.py): on this class of
machine it sustains an order of magnitude more requests per second than httpx.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

# What of an upstream's response headers reaches the caller. The gateway answers
# with its own framing (length, encoding, connection), so only these describe the body.
FORWARDED_HEADERS = (
    (b"content-type", "content-type"),
    (b"cache-control", "cache-control"),
    (b"x-request-id", "x-request-id"),
)


class UpstreamError(Exception):
    """The upstream could not be reached (502) or did not answer in time (504)."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    latency_ms: float


class UpstreamStream:
    """An upstream response whose body is still arriving (SSE)."""

    def __init__(self, response: aiohttp.ClientResponse, started: float) -> None:
        self.response = response
        self.status = response.status
        self.headers = _forwardable(response)
        self.latency_ms = (time.perf_counter() - started) * 1000

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except TimeoutError:
            raise UpstreamError(504, "upstream stopped sending in the middle of the stream",
                                "upstream_timeout") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(502, f"upstream stream failed: {exc}", "upstream_error") from None

    async def read(self) -> bytes:
        return await self.response.read()

    def close(self) -> None:
        self.response.release()


def _forwardable(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    headers = response.headers
    return [(name, value.encode("latin-1")) for name, key in FORWARDED_HEADERS
            for value in headers.getall(key, ())]


@functools.lru_cache(maxsize=64)
def _timeout(timeout: float, connect_timeout: float, stream: bool) -> aiohttp.ClientTimeout:
    """One timeout object per upstream setting, not per request.

    A whole answer is bounded by ``total``; a stream has no end to bound, so there the
    limit applies to the silence between chunks instead. A read timer on a whole answer
    would only repeat ``total`` and costs a timer per chunk received.
    """
    if stream:
        return aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
    return aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)


class UpstreamClient:
    def __init__(self, max_connections: int = 256) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300,
                                         keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",),
            json_serialize=None,  # type: ignore[arg-type]
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str],
        timeout: float, connect_timeout: float, stream: bool = False,
    ) -> UpstreamResponse | UpstreamStream:
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        client_timeout = _timeout(timeout, connect_timeout, stream)
        started = time.perf_counter()
        try:
            response = await self._session.request(
                method, url, data=body, headers=headers, timeout=client_timeout,
            )
            if stream and response.status == 200:
                return UpstreamStream(response, started)
            async with response:
                payload = await response.read()
                return UpstreamResponse(response.status, _forwardable(response), payload,
                                        (time.perf_counter() - started) * 1000)
        except TimeoutError:
            raise UpstreamError(504, f"upstream did not answer within {timeout:g}s",
                                "upstream_timeout") from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(502, f"cannot connect to upstream: {exc.os_error or exc}",
                                "upstream_unavailable") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(502, f"upstream failed: {exc}", "upstream_error") from None
