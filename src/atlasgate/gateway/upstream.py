"""The HTTP client to upstream models: one pooled aiohttp session for the process.

aiohttp is chosen by benchmark (see bench/bench_gateway.py): on this class of
machine it sustains an order of magnitude more requests per second than httpx.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

log = logging.getLogger("atlasgate")

# What of an upstream's response headers reaches the caller. The gateway answers
# with its own framing (length, encoding, connection), so only these describe the body.
FORWARDED_HEADERS = (
    (b"content-type", "content-type"),
    (b"cache-control", "cache-control"),
    (b"x-request-id", "x-request-id"),
)


class UpstreamError(Exception):
    """The upstream could not be reached (502) or did not answer in time (504).

    ``message`` goes to the caller, so it names the kind of failure but never the
    upstream's address: aiohttp's own texts carry host, port and URL.
    """

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
            raise _failed(exc, "upstream stream failed") from None

    async def read(self) -> bytes:
        return await self.response.read()

    def close(self) -> None:
        self.response.release()


def _forwardable(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    headers = response.headers
    return [(name, value.encode("latin-1")) for name, key in FORWARDED_HEADERS
            for value in headers.getall(key, ())]


# Most specific first: what each failure is called when told to the caller.
_FAILURE_KINDS: tuple[tuple[type[aiohttp.ClientError], str], ...] = (
    (aiohttp.ServerDisconnectedError, "connection closed by the upstream"),
    (aiohttp.ClientPayloadError, "response body cut short or malformed"),
    (aiohttp.ClientResponseError, "malformed HTTP response"),
    (aiohttp.InvalidURL, "invalid upstream URL"),
)


def _failed(exc: aiohttp.ClientError, what: str) -> UpstreamError:
    """A 502 naming the kind of failure; the full text, with addresses, stays in our log."""
    log.warning("%s: %s", what, exc)
    for kind, reason in _FAILURE_KINDS:
        if isinstance(exc, kind):
            return UpstreamError(502, f"{what}: {reason}", "upstream_error")
    if isinstance(exc, OSError):
        return UpstreamError(502, f"{what}: {_os_reason(exc)}", "upstream_error")
    return UpstreamError(502, f"{what} ({type(exc).__name__})", "upstream_error")


def _unreachable(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection failed, e.g. "connection refused" (asyncio's text holds the address)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate verification failed"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "name resolution failed"
    return _os_reason(exc.os_error)


def _os_reason(error: OSError) -> str:
    """The operating system's words for an errno, which name no host, port or path."""
    if error.errno is None or error.errno <= 0:
        return "connection failed"
    reason = os.strerror(error.errno)
    return reason[:1].lower() + reason[1:]


async def _read_at_most(response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole body, refusing one larger than ``limit`` as soon as that is known."""
    declared = response.content_length
    if limit is None or (declared is not None and declared <= limit):
        return await response.read()
    if declared is not None:
        raise _too_large(f"{declared} bytes", limit)
    chunks, size = [], 0
    async for chunk in response.content.iter_any():  # chunked: no length to check first
        size += len(chunk)
        if size > limit:
            raise _too_large(f"more than {limit} bytes", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: str, limit: int) -> UpstreamError:
    return UpstreamError(502, f"upstream answer of {size} exceeds limits.max_response_bytes "
                         f"({limit})", "upstream_response_too_large")


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
        max_bytes: int | None = None,
    ) -> UpstreamResponse | UpstreamStream:
        """Send a request; a whole answer over ``max_bytes`` is a 502, never held in memory."""
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        client_timeout = _timeout(timeout, connect_timeout, stream)
        started = time.perf_counter()
        try:
            response = await self._session.request(
                method, url, data=body, headers=headers, timeout=client_timeout,
            )
            # Some OpenAI-compatible servers ignore "stream": a whole JSON answer is read
            # and inspected as one, never relayed as frames a stream scanner cannot read.
            if (stream and response.status == 200
                    and response.content_type == "text/event-stream"):
                return UpstreamStream(response, started)
            async with response:
                payload = await _read_at_most(response, max_bytes)
                return UpstreamResponse(response.status, _forwardable(response), payload,
                                        (time.perf_counter() - started) * 1000)
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamError(504, f"upstream did not accept a connection within "
                                f"{connect_timeout:g}s", "upstream_timeout") from None
        except TimeoutError:
            raise UpstreamError(504, f"upstream did not answer within {timeout:g}s",
                                "upstream_timeout") from None
        except aiohttp.ClientConnectorError as exc:
            log.warning("upstream unreachable: %s", exc)
            raise UpstreamError(502, f"upstream is unreachable: {_unreachable(exc)}",
                                "upstream_unavailable") from None
        except aiohttp.ClientError as exc:
            raise _failed(exc, "upstream failed") from None
