"""Small ASGI helpers: bounded body reading, strict JSON parsing, responses.

They turn every kind of bad input into a ``BadRequest`` with a status and a clear
message, so the routes never see a half-read body or a parser exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


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


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Read the whole body, refusing (413) before reading when it cannot fit."""
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(400, "invalid Content-Length header", "invalid_header") from None
        if size > limit:
            raise BadRequest(413, f"request body of {size} bytes exceeds the limit of {limit} bytes",
                             "body_too_large")
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
        text = str(exc)
        if "utf-8" in text.lower() or "surrogate" in text.lower():
            raise BadRequest(400, "request body is not valid UTF-8", "invalid_encoding") from None
        if "recursion" in text.lower():
            raise BadRequest(400, f"JSON nested deeper than {max_depth} levels", "json_too_deep") from None
        raise BadRequest(400, f"malformed JSON: {text}", "invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"expected a JSON object, got {type(data).__name__}", "invalid_json")
    # Nesting deeper than the limit needs more opening brackets than most bodies have
    # (brackets inside strings only make the count err on the side of walking).
    if body.count(b"[") + body.count(b"{") > max_depth and _depth_exceeds(data, max_depth):
        raise BadRequest(400, f"JSON nested deeper than {max_depth} levels", "json_too_deep")
    return data


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
