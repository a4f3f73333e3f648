"""Requests become Events: the one place that knows each protocol's body shape."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from atlasgate import event as ev
from atlasgate.auth import Identity
from atlasgate.clock import iso_millis
from atlasgate.event import Event
from atlasgate.gateway.http import BadRequest, Scope, header


def event_id(now: float) -> str:
    """32 hex digits: the time in milliseconds, then 80 random bits.

    Ids that grow with time sort like the log, and the log's index on them grows at
    its end instead of touching a random page per decision (a fifth of an SQLite
    append's cost with random ids); 80 random bits keep ids unguessable and unique
    across replicas.
    """
    return f"{int(now * 1000) & 0xFFFFFFFFFFFF:012x}{os.urandom(10).hex()}"


def base_event(scope: Scope, identity: Identity | None, method: str, model: str | None) -> Event:
    now = time.time()
    client = scope.get("client")
    fields: dict[str, Any] = {
        ev.TIMESTAMP: iso_millis(now),
        ev.EVENT_ID: event_id(now),
        ev.EVENT_KIND: "request",
        ev.CLIENT_IP: client[0] if client else None,
        ev.API_METHOD: method,
        ev.API_ENDPOINT: scope["path"],
        ev.API_MODEL: model,
    }
    if identity is not None:
        fields[ev.CLIENT_KEY_ID] = identity.key_id
        fields[ev.CLIENT_TENANT] = identity.tenant
        fields[ev.USER_ID] = identity.user
    session = header(scope, b"x-session-id")
    if session:
        fields[ev.SESSION_ID] = session.decode("latin-1")[:128]
    return Event(fields)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def chat_fields(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "'messages' must be a non-empty array", "invalid_request", "messages")
    texts = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(400, f"messages[{index}] must be an object with a 'role'",
                             "invalid_request", f"messages[{index}]")
        texts.append(_text_of(message.get("content")))
        calls = message.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise BadRequest(400, f"messages[{index}].tool_calls must be an array",
                             "invalid_request", f"messages[{index}].tool_calls")
        for call in calls or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                arguments = call["function"].get("arguments")
                if isinstance(arguments, str):
                    texts.append(arguments)
    return {
        ev.LLM_PROMPT: "\n".join(t for t in texts if t),
        ev.LLM_MESSAGE_COUNT: len(messages),
        **_generation_fields(body),
    }


def completion_fields(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str):
        raise BadRequest(400, "'prompt' must be a string or an array of strings",
                         "invalid_request", "prompt")
    return {ev.LLM_PROMPT: prompt, **_generation_fields(body)}


def embedding_fields(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("input")
    if isinstance(data, list):
        texts = [t for t in data if isinstance(t, str)]
        count = len(data)
    elif isinstance(data, str):
        texts, count = [data], 1
    else:
        raise BadRequest(400, "'input' must be a string or an array", "invalid_request", "input")
    return {ev.LLM_PROMPT: "\n".join(texts), ev.ML_INSTANCES: count}


def _generation_fields(body: dict[str, Any]) -> dict[str, Any]:
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    fields: dict[str, Any] = {
        ev.API_STREAM: body.get("stream") is True,
        ev.LLM_LOGPROBS: bool(body.get("logprobs")),
    }
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        fields[ev.LLM_MAX_TOKENS] = max_tokens
    return fields


def predict_v1_fields(body: dict[str, Any]) -> dict[str, Any]:
    rows = body.get("instances", body.get("inputs"))
    if not isinstance(rows, list) or not rows:
        raise BadRequest(400, "'instances' must be a non-empty array", "invalid_request",
                         "instances")
    first = rows[0]
    width = len(first) if isinstance(first, list) else 1
    return {ev.ML_INSTANCES: len(rows), ev.ML_FEATURES: width}


# More elements than any request body can carry (each takes at least two bytes of JSON).
MAX_TENSOR_ELEMENTS = 2**32


def predict_v2_fields(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        raise BadRequest(400, "'inputs' must be a non-empty array of tensors", "invalid_request",
                         "inputs")
    shape = inputs[0].get("shape")
    if (not isinstance(shape, list) or not shape
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise BadRequest(400, "inputs[0].shape must be an array of non-negative integers",
                         "invalid_request", "inputs")
    # The declared shape feeds counters and policies, so it must describe the data sent.
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        raise BadRequest(400, f"inputs[0].shape declares {elements} elements; at most "
                         f"{MAX_TENSOR_ELEMENTS} are accepted", "invalid_request", "inputs")
    data = inputs[0].get("data")
    if isinstance(data, list):
        nested = bool(data) and isinstance(data[0], list)
        declared = shape[0] if nested else elements
        if len(data) != declared:
            what = "rows" if nested else "values"
            raise BadRequest(400, f"inputs[0].data holds {len(data)} {what} but inputs[0].shape "
                             f"declares {declared}", "invalid_request", "inputs")
    return {ev.ML_INSTANCES: shape[0], ev.ML_FEATURES: math.prod(shape[1:])}
