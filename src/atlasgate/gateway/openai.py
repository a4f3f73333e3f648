"""OpenAI-compatible routes: chat completions, completions, embeddings, models.

Clients such as the official ``openai`` SDK talk to the gateway exactly as to the
provider; the gateway forwards with its own upstream credential, never the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from atlasgate import event as ev
from atlasgate.detectors.findings import Finding
from atlasgate.gateway import normalize
from atlasgate.gateway.flow import Exchange, Rejected
from atlasgate.gateway.http import send_bytes, send_json
from atlasgate.gateway.inspection import ContentStage, choices_of
from atlasgate.gateway.upstream import UpstreamError, UpstreamResponse, UpstreamStream
from atlasgate.policy import constraints
from atlasgate.policy.decision import Action

log = logging.getLogger("atlasgate")

ROUTES = {
    "/v1/chat/completions": ("chat", "/chat/completions", normalize.chat_fields),
    "/v1/completions": ("completion", "/completions", normalize.completion_fields),
    "/v1/embeddings": ("embedding", "/embeddings", normalize.embedding_fields),
}


async def generate(x: Exchange, upstream_path: str, fields_of: Any) -> None:
    await x.authenticate()
    body = await x.read_json()
    model = body.get("model")
    if not isinstance(model, str) or not model:
        await x.reject(400, "'model' must be a non-empty string", "invalid_request",
                       rule="input.invalid_request", param="model")
    try:
        fields = fields_of(body)
    except normalize.BadRequest as exc:
        await x.reject(exc.status, exc.message, exc.code, rule=f"input.{exc.code}", param=exc.param)
    upstream = x.snapshot.openai_upstream(model)
    if upstream is None:
        await x.model_not_found(f"the model '{model}' does not exist or is not served by this gateway")
    await x.describe(model, fields)
    x.event[ev.API_UPSTREAM] = upstream.name
    inspector = x.snapshot.content
    content = ContentStage(x, inspector, x.method) if inspector is not None else None
    if content is not None:
        await x.detect("content", content.inspect_request(body))
    await x.decide()
    decision = await x.enforce()
    if decision.action is Action.CONSTRAIN:
        x.modified += constraints.constrain_openai_request(body, decision.constraints)
        if content is not None and decision.constraints.get("redact"):
            body = content.redact_request(body)
    headers = {"content-type": "application/json", "accept": "application/json"}
    if upstream.name in x.snapshot.upstream_auth:
        headers["authorization"] = x.snapshot.upstream_auth[upstream.name]
    stream = body.get("stream") is True
    if stream:
        headers["accept"] = "text/event-stream"
    # Re-encoded rather than forwarded as received: the upstream reads exactly what was
    # inspected (with a duplicate key, another parser could otherwise see other text).
    try:
        response = await x.gateway.upstream.open(
            "POST", upstream.base_url + upstream_path, orjson.dumps(body), headers,
            upstream.timeout, upstream.connect_timeout, stream=stream,
            max_bytes=x.snapshot.config.limits.max_response_bytes)
    except UpstreamError as exc:
        await x.reject(exc.status, exc.message, exc.code)
        return
    if isinstance(response, UpstreamStream):
        await relay_stream(x, response, content)
    else:
        await finish(x, response, content)


async def finish(x: Exchange, response: UpstreamResponse, content: ContentStage | None) -> None:
    """Apply response-side constraints and policy, record, then release the response."""
    payload = response.body
    decision = x.decision
    assert decision is not None
    if response.status == 200:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            answer = response_fields(data)
            x.response_fields[ev.LLM_RESPONSE] = answer.pop(ev.LLM_RESPONSE)
            x.event.update(answer)
            findings: list[Finding] = []
            if content is not None:
                findings = await x.detect("content", content.inspect_response(data)) or []
            response_decision = await x.decide("response")
            if response_decision.action in (Action.BLOCK, Action.REVIEW):
                await x.reject(403, "response withheld by policy: "
                               + "; ".join(response_decision.reasons), "response_blocked")
            constraint = constraints.combine([decision.constraints, response_decision.constraints])
            changed = constraints.constrain_openai_response(data, constraint)
            x.modified += changed
            rewritten = bool(changed)
            if content is not None:
                data, touched = content.constrain_response(
                    data, findings, bool(response_decision.constraints.get("redact")))
                rewritten = rewritten or touched
            if rewritten:
                payload = orjson.dumps(data)
    await x.record(response.status, upstream_ms=response.latency_ms)
    await send_bytes(x.send, response.status, payload,
                     [*_content_headers(response.headers), *x.decision_headers()])


def response_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The answer's text and token counts; what cannot be read as such adds nothing."""
    texts = []
    for choice in choices_of(data):
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            texts.append(message["content"])
        elif isinstance(choice.get("text"), str):
            texts.append(choice["text"])
    fields: dict[str, Any] = {ev.LLM_RESPONSE: "\n".join(texts)}
    usage = data.get("usage")
    if isinstance(usage, dict):
        for name, field in (("prompt_tokens", ev.LLM_PROMPT_TOKENS),
                            ("completion_tokens", ev.LLM_COMPLETION_TOKENS)):
            count = usage.get(name)
            if isinstance(count, int) and not isinstance(count, bool):
                fields[field] = count
    return fields


async def relay_stream(x: Exchange, response: UpstreamStream, content: ContentStage | None) -> None:
    """Record first (durable), then pass SSE chunks on as they arrive, scanned when configured.

    A client that leaves mid-stream stops the upstream too: generating the rest would
    cost tokens nobody reads. Its leaving is logged against the decision.
    """
    await x.record(response.status, upstream_ms=response.latency_ms)
    await x.send({"type": "http.response.start", "status": response.status,
                  "headers": [*_content_headers(response.headers), *x.decision_headers()]})
    x.response_started = True
    chunks = response.chunks()
    if content is not None:
        chunks = content.rewrite_stream(chunks)
    try:
        relayed, _ = await x.unless_client_leaves(_relay(x, chunks))
    except asyncio.CancelledError:
        # The gateway is stopping mid-stream: the client and the log are told, as for
        # an upstream failure, before the task ends.
        with contextlib.suppress(Exception):
            await _stream_failed(x, "the gateway is shutting down; stream stopped",
                                 "gateway_shutdown")
        raise
    finally:
        response.close()
    if not relayed:
        await _log_stream_error(x, "the client closed the connection mid-stream; the "
                                   "upstream stream was stopped", "client_disconnected")
        return
    await x.send({"type": "http.response.body", "body": b"", "more_body": False})


async def _relay(x: Exchange, chunks: AsyncIterator[bytes]) -> None:
    try:
        async for chunk in chunks:
            await x.send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        x.event[ev.UPSTREAM_ERROR] = exc.code
        await _stream_failed(x, exc.message, exc.code)
    except Rejected as exc:
        # fail_mode=closed and the log refused a stream decision: the stream stops, and
        # the log that refused cannot take a stream_error entry either.
        await _send_error(x, "the decision could not be recorded; stream stopped "
                          "(fail_mode=closed)", str(exc))
    except Exception:
        # The response has started, so no status can say it; the stream must still end
        # the way an upstream failure ends it, not be cut off unexplained.
        log.exception("stream relay failed for decision %s", x.event[ev.EVENT_ID])
        await _stream_failed(x, "internal gateway error while relaying the stream",
                             "internal_error")


async def _stream_failed(x: Exchange, message: str, code: str) -> None:
    """Tell the client in an OpenAI-shaped error event, and log the failure."""
    await _send_error(x, message, code)
    await _log_stream_error(x, message, code)


async def _log_stream_error(x: Exchange, message: str, code: str) -> None:
    await x.append({"kind": "stream_error", "decision_id": x.event[ev.EVENT_ID],
                    "time": x.event[ev.TIMESTAMP], "error": code, "message": message})


async def _send_error(x: Exchange, message: str, code: str) -> None:
    error = {"error": {"message": message, "type": "server_error", "code": code}}
    await x.send({"type": "http.response.body", "more_body": True,
                  "body": b"data: " + orjson.dumps(error) + b"\n\n"})


def _content_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return headers or [(b"content-type", b"application/json")]


async def list_models(x: Exchange) -> None:
    await x.authenticate()
    await x.admit(None)
    created = int(x.snapshot.loaded_at)
    models = [{"id": name, "object": "model", "created": created, "owned_by": upstream.name}
              for name, upstream in x.snapshot.openai_by_model.items()]
    models += [{"id": name, "object": "model", "created": created, "owned_by": "predict"}
               for name in x.snapshot.predict_by_name]
    await x.record(200)
    await send_json(x.send, 200, {"object": "list", "data": models}, x.decision_headers())


async def retrieve_model(x: Exchange, name: str) -> None:
    await x.authenticate()
    upstream = x.snapshot.openai_by_model.get(name)
    if upstream is None:
        await x.model_not_found(f"the model '{name}' does not exist")
    await x.admit(name)
    await x.record(200)
    await send_json(x.send, 200, {"id": name, "object": "model",
                                  "created": int(x.snapshot.loaded_at), "owned_by": upstream.name},
                    x.decision_headers())
