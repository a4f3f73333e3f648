"""Small ASGI helpers: bounded body reading, strict JSON parsing, responses.

They turn every kind of bad input into a ``BadRequest`` with a status and a clear
message, so the routes never see a half-read body or a parser exception.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]

# orjson's own refusal of nesting deeper than 1024 (see config.schema.JSON_PARSER_MAX_DEPTH).
ORJSON_DEPTH_MESSAGE = "depth limit exceeded"

# A JSON string, or an unclosed one running to the end: once a quote opens, the match
# cannot fail, so the search never restarts inside a string (that would be quadratic).
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadRequest(Exception):
    """An input problem the caller can fix; ``code`` is a stable machine-readable name."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, limit: int,
                    timeout: float | None = None) -> bytes:
    """Read the whole body, refusing (413) before reading when it cannot fit.

    ``timeout`` bounds the whole read, not each chunk: a client that trickles a byte
    at a time would otherwise hold the connection and its buffer forever (408).
    """
    _check_content_encoding(scope)
    _check_declared_size(scope, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _receive_all(receive, limit)
    except TimeoutError:
        raise BadRequest(408, f"the request body did not arrive within {timeout:g}s",
                         "body_timeout") from None


def _check_content_encoding(scope: Scope) -> None:
    """A compressed body would reach the parser as binary and be blamed on the client's JSON."""
    value = header(scope, b"content-encoding")
    if value is None:
        return
    codings = [c.strip().lower() for c in value.decode("latin-1").split(",")]
    unsupported = [c for c in codings if c not in ("", "identity")]
    if unsupported:
        raise BadRequest(415, f"Content-Encoding {', '.join(unsupported)} is not supported; "
                         "send the request body uncompressed", "unsupported_encoding")


def _check_declared_size(scope: Scope, limit: int) -> None:
    declared = header(scope, b"content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise BadRequest(400, "invalid Content-Length header", "invalid_header") from None
    if size > limit:
        raise BadRequest(413, f"request body of {size} bytes exceeds the limit of {limit} bytes",
                         "body_too_large")


async def _receive_all(receive: Receive, limit: int) -> bytes:
    chunks = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(400, "client disconnected before sending the whole body",
                             "client_disconnected")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise BadRequest(413, f"request body exceeds the limit of {limit} bytes",
                             "body_too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_json_object(body: bytes, max_depth: int) -> dict[str, Any]:
    if not body:
        raise BadRequest(400, "request body is empty; expected a JSON object", "invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _classify(body, exc, max_depth) from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"expected a JSON object, got {type(data).__name__}", "invalid_json")
    # Nesting deeper than the limit needs more opening brackets than most bodies have
    # (brackets inside strings only make the count err on the side of walking).
    if body.count(b"[") + body.count(b"{") > max_depth and _depth_exceeds(data, max_depth):
        raise BadRequest(400, f"JSON nested deeper than {max_depth} levels", "json_too_deep")
    return data


def _classify(body: bytes, exc: orjson.JSONDecodeError, max_depth: int) -> BadRequest:
    """Name what is wrong with a body orjson refused.

    Encoding is decided from the bytes, not from the parser's wording: orjson also
    talks about UTF-8 and surrogates for bodies that are valid UTF-8 (a BOM, an
    escaped lone surrogate). Depth is measured too: orjson reports some over-deep
    bodies as "failed to allocate memory".
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return BadRequest(400, f"request body is not valid UTF-8 (invalid byte at offset "
                          f"{bad.start})", "invalid_encoding")
    if exc.msg.startswith(ORJSON_DEPTH_MESSAGE) or _nesting_exceeds(body, max_depth):
        return BadRequest(400, f"JSON nested deeper than {max_depth} levels", "json_too_deep")
    hint = ""
    if "surrogate" in exc.msg:
        hint = " (a \\uD800-\\uDFFF escape must be half of a surrogate pair)"
    return BadRequest(400, f"malformed JSON: {exc}{hint}", "invalid_json")


def _nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``; for bodies orjson refused."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def _depth_exceeds(root: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = JSON_HEADERS
) -> None:
    all_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send_bytes(send, status, orjson.dumps(payload), [*JSON_HEADERS, *headers])
