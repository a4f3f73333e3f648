"""Sample LLM upstream: a deterministic, OpenAI-compatible responder named ``sample-chat``.

Its reply echoes the last user message ("Sample reply to: ..."), so whatever a caller sent,
PII included, comes back in the output where response-side controls can be seen acting on it.
Token log-probabilities and embeddings are derived from stable hashes: the same request always
gets the same answer, in any process. ``sample-slow`` answers only after a long pause, to let a
gateway's upstream timeout be observed.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from aiohttp import web

CHAT_MODEL = "sample-chat"
EMBED_MODEL = "sample-embed"
SLOW_MODEL = "sample-slow"
EMBED_DIMENSIONS = 64
CHAT_PREFIX = "Sample reply to: "
COMPLETION_PREFIX = "Sample completion of: "

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Larger than any gateway limit, so the gateway's own body limit is the one callers meet."""

_MODELS = {CHAT_MODEL: "chat", SLOW_MODEL: "chat", EMBED_MODEL: "embedding"}
_MODEL_CREATED = 1735689600
_FINGERPRINT = "fp_atlasgate_sample"
_MAX_TOP_LOGPROBS = 20
_MAX_LEGACY_LOGPROBS = 5
_MAX_N = 16
_MAX_EMBED_INPUTS = 2048
_ALTERNATIVES = (
    " the", " a", " sample", " reply", ".", ",", " and", " of", " to", " is",
    " in", " it", " that", " for", " on", " with", " as", " this", " be", " at", " or",
)
_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}
_DONE = b"data: [DONE]\n\n"


class ApiError(Exception):
    """An error the caller gets back in OpenAI's JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
    )


@web.middleware
async def _openai_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _json(exc.body, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
        message = f"{exc.reason}: {request.method} {request.path}"
        return _json({"error": {"message": message, "type": kind, "param": None, "code": None}},
                     exc.status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, f"We could not parse the JSON body of your request ({exc}). The body must be "
            "a JSON object."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _model(body: dict[str, Any], kind: str, endpoint: str) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "You must provide a model parameter.", param="model")
    if model not in _MODELS:
        raise ApiError(
            404, f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if _MODELS[model] != kind:
        raise ApiError(
            400, f"`{model}` is not a {kind} model and is not supported on {endpoint}.",
            param="model", code="model_not_supported",
        )
    return model


def _int_param(
    body: dict[str, Any], name: str, low: int, high: int | None, default: int | None
) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
        high is not None and value > high
    ):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, f"`{name}` must be an integer {bound}, got {value!r}.", param=name)
    return value


def _bool_param(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"`{name}` must be a boolean, got {value!r}.", param=name)
    return value


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _pieces(text: str) -> list[str]:
    """Whitespace tokens, each after the first carrying its leading space, as BPE pieces do."""
    words = text.split()
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _truncate(pieces: list[str], max_tokens: int | None) -> tuple[list[str], str]:
    if max_tokens is not None and len(pieces) > max_tokens:
        return pieces[:max_tokens], "length"
    return pieces, "stop"


@functools.lru_cache(maxsize=8192)
def _ranked(piece: str, k: int) -> tuple[tuple[str, float], ...]:
    """The token and k-1 alternatives with strictly falling, hash-derived log-probabilities."""
    crc = zlib.crc32(piece.encode())
    chosen = -round((crc % 1000) / 2000, 6)
    ranked = [(piece, chosen)]
    start = crc % len(_ALTERNATIVES)
    step = 0
    while len(ranked) < k and step < len(_ALTERNATIVES):
        alternative = _ALTERNATIVES[(start + step) % len(_ALTERNATIVES)]
        step += 1
        if alternative == piece:
            continue
        jitter = ((crc >> (len(ranked) % 16)) & 0xFF) / 1000
        ranked.append((alternative, round(chosen - 0.75 * len(ranked) - jitter, 6)))
    return tuple(ranked)


def _chat_logprob(piece: str, top: int) -> dict[str, Any]:
    ranked = _ranked(piece, max(top, 1))
    return {
        "token": piece,
        "logprob": ranked[0][1],
        "bytes": list(piece.encode()),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked[:top]
        ],
    }


def _legacy_logprobs(
    pieces: list[str], top: int, offset: int, first_is_prompt: bool
) -> dict[str, Any]:
    tokens, token_logprobs, tops, offsets = [], [], [], []
    position = offset
    for i, piece in enumerate(pieces):
        ranked = _ranked(piece, max(top, 1))
        tokens.append(piece)
        token_logprobs.append(None if first_is_prompt and i == 0 else ranked[0][1])
        tops.append(None if first_is_prompt and i == 0 else dict(ranked[:top]))
        offsets.append(position)
        position += len(piece)
    return {
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "top_logprobs": tops,
        "text_offset": offsets,
    }


def _message_text(message: Any) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content
            if isinstance(part, dict) and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "`messages` must be a non-empty list of messages.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(
                400, f"`messages[{i}]` must be an object with a string `role`.",
                param=f"messages[{i}]",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise ApiError(
                400, f"`messages[{i}].content` must be a string or a list of content parts.",
                param=f"messages[{i}].content",
            )
    return messages


def _prompts(body: dict[str, Any]) -> list[str]:
    """Legacy `prompt`: a string, strings, token ids or lists of token ids."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return prompt
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return [" ".join(map(str, prompt))]
        if all(
            isinstance(p, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in p)
            for p in prompt
        ):
            return [" ".join(map(str, p)) for p in prompt]
    raise ApiError(
        400, "`prompt` must be a string, a list of strings, or token id lists.", param="prompt"
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@functools.lru_cache(maxsize=4096)
def embed_text(text: str, dimensions: int = EMBED_DIMENSIONS) -> np.ndarray:
    """Signed hashing of character trigrams, L2-normalised: similar texts get close vectors."""
    vector = np.zeros(dimensions, dtype=np.float64)
    padded = f" {text.lower()} "
    for i in range(len(padded) - 2):
        h = zlib.crc32(padded[i : i + 3].encode())
        vector[h % dimensions] += 1.0 if h & 0x80000000 else -1.0
    norm = np.linalg.norm(vector)
    if norm > 0:
        vector /= norm
    result = vector.astype(np.float32)
    result.flags.writeable = False
    return result


def _embedding_inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = raw
    elif isinstance(raw, list) and raw and all(
        isinstance(t, int) and not isinstance(t, bool) for t in raw
    ):
        texts = [" ".join(map(str, raw))]
    elif isinstance(raw, list) and raw and all(
        isinstance(t, list) and t and all(isinstance(x, int) and not isinstance(x, bool) for x in t)
        for t in raw
    ):
        texts = [" ".join(map(str, t)) for t in raw]
    else:
        raise ApiError(
            400, "`input` must be a non-empty string, a list of strings, or token id lists.",
            param="input",
        )
    if len(texts) > _MAX_EMBED_INPUTS:
        raise ApiError(400, f"`input` may hold at most {_MAX_EMBED_INPUTS} items.", param="input")
    if any(not t for t in texts):
        raise ApiError(400, "`input` items must not be empty strings.", param="input")
    return texts


@dataclass(frozen=True)
class _Generation:
    """One request's parsed generation settings, shared by chat and legacy completions."""

    model: str
    n: int
    max_tokens: int | None
    stream: bool
    include_usage: bool


def _generation(body: dict[str, Any], kind_endpoint: str) -> _Generation:
    model = _model(body, "chat", kind_endpoint)
    max_tokens = _int_param(body, "max_completion_tokens", 1, None, None)
    if max_tokens is None:
        max_tokens = _int_param(body, "max_tokens", 1, None, None)
    stream = _bool_param(body, "stream")
    return _Generation(
        model=model,
        n=_int_param(body, "n", 1, _MAX_N, 1) or 1,
        max_tokens=max_tokens,
        stream=stream,
        include_usage=stream and _include_usage(body),
    )


def _frame(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def create_chat_app(*, chunk_delay: float = 0.0, slow_seconds: float = 30.0) -> web.Application:
    """The LLM upstream: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

    ``chunk_delay`` seconds pass between streamed chunks (0 for benchmarks); ``sample-slow``
    waits ``slow_seconds`` before it answers.
    """
    model_objects = {
        name: {"id": name, "object": "model", "created": _MODEL_CREATED,
               "owned_by": "atlasgate-sample"}
        for name in _MODELS
    }
    models_list = orjson.dumps({"object": "list", "data": list(model_objects.values())})

    async def pause_if_slow(model: str) -> None:
        if model == SLOW_MODEL:
            await asyncio.sleep(slow_seconds)

    async def stream(request: web.Request, frames: Iterator[dict[str, Any]]) -> web.StreamResponse:
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        try:
            for chunk in frames:
                await response.write(_frame(chunk))
                if chunk_delay:
                    await asyncio.sleep(chunk_delay)
            await response.write(_DONE)
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response

    async def list_models(request: web.Request) -> web.Response:
        return web.Response(body=models_list, content_type="application/json")

    async def retrieve_model(request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in model_objects:
            raise ApiError(
                404, f"The model `{name}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return _json(model_objects[name])

    async def chat_completions(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        gen = _generation(body, "/v1/chat/completions")
        messages = _messages(body)
        logprobs = _bool_param(body, "logprobs")
        top = _int_param(body, "top_logprobs", 0, _MAX_TOP_LOGPROBS, 0) or 0
        if top and not logprobs:
            raise ApiError(
                400, "`logprobs` must be true when `top_logprobs` is set.", param="top_logprobs"
            )
        last = next((m for m in reversed(messages) if m["role"] == "user"), messages[-1])
        pieces, finish = _truncate(_pieces(CHAT_PREFIX + _message_text(last)), gen.max_tokens)
        prompt_tokens = sum(len(_message_text(m).split()) for m in messages)
        usage = _usage(prompt_tokens, gen.n * len(pieces))
        await pause_if_slow(gen.model)
        entries = [_chat_logprob(p, top) for p in pieces] if logprobs else None
        head = {
            "id": "chatcmpl-" + os.urandom(12).hex(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": gen.model,
            "system_fingerprint": _FINGERPRINT,
        }
        if gen.stream:
            return await stream(request, _chat_frames(head, gen, pieces, entries, finish, usage))
        choice_logprobs = {"content": entries, "refusal": None} if entries is not None else None
        message = {"role": "assistant", "content": "".join(pieces), "refusal": None}
        choices = [
            {"index": i, "message": message, "logprobs": choice_logprobs, "finish_reason": finish}
            for i in range(gen.n)
        ]
        return _json({**head, "choices": choices, "usage": usage})

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        gen = _generation(body, "/v1/completions")
        prompts = _prompts(body)
        echo = _bool_param(body, "echo")
        top = _int_param(body, "logprobs", 0, _MAX_LEGACY_LOGPROBS, None)
        outputs = []
        completion_tokens = 0
        for prompt in prompts:
            pieces, finish = _truncate(_pieces(COMPLETION_PREFIX + prompt), gen.max_tokens)
            completion_tokens += gen.n * len(pieces)
            if echo:
                pieces = [prompt, " " + pieces[0], *pieces[1:]]
            outputs.append((pieces, finish))
        prompt_tokens = sum(len(p.split()) for p in prompts)
        usage = _usage(prompt_tokens, completion_tokens)
        await pause_if_slow(gen.model)
        head = {
            "id": "cmpl-" + os.urandom(12).hex(),
            "object": "text_completion",
            "created": int(time.time()),
            "model": gen.model,
            "system_fingerprint": _FINGERPRINT,
        }
        if gen.stream:
            frames = _completion_frames(head, gen, outputs, top, echo, usage)
            return await stream(request, frames)
        choices = []
        for p, (pieces, finish) in enumerate(outputs):
            logprobs = _legacy_logprobs(pieces, top, 0, echo) if top is not None else None
            text = "".join(pieces)
            choices.extend(
                {"text": text, "index": p * gen.n + j, "logprobs": logprobs,
                 "finish_reason": finish}
                for j in range(gen.n)
            )
        return _json({**head, "choices": choices, "usage": usage})

    async def embeddings(request: web.Request) -> web.Response:
        body = await _body(request)
        model = _model(body, "embedding", "/v1/embeddings")
        texts = _embedding_inputs(body)
        dimensions = _int_param(body, "dimensions", 1, EMBED_DIMENSIONS, EMBED_DIMENSIONS)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ApiError(
                400, f"`encoding_format` must be 'float' or 'base64', got {encoding!r}.",
                param="encoding_format",
            )
        encode: Callable[[np.ndarray], Any] = (
            (lambda v: v) if encoding == "float"
            else (lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode("ascii"))
        )
        data = [
            {"object": "embedding", "index": i,
             "embedding": encode(embed_text(text, dimensions or EMBED_DIMENSIONS))}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        return _json({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    app = web.Application(middlewares=[_openai_errors], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


def _chat_frames(
    head: dict[str, Any],
    gen: _Generation,
    pieces: list[str],
    entries: list[dict[str, Any]] | None,
    finish: str,
    usage: dict[str, int],
) -> Iterator[dict[str, Any]]:
    base = {**head, "object": "chat.completion.chunk"}
    if gen.include_usage:
        base["usage"] = None
    for index in range(gen.n):
        yield {**base, "choices": [{
            "index": index, "delta": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None, "finish_reason": None,
        }]}
        for k, piece in enumerate(pieces):
            logprobs = {"content": [entries[k]], "refusal": None} if entries is not None else None
            yield {**base, "choices": [{
                "index": index, "delta": {"content": piece}, "logprobs": logprobs,
                "finish_reason": None,
            }]}
        yield {**base, "choices": [{
            "index": index, "delta": {}, "logprobs": None, "finish_reason": finish,
        }]}
    if gen.include_usage:
        yield {**base, "choices": [], "usage": usage}


def _completion_frames(
    head: dict[str, Any],
    gen: _Generation,
    outputs: list[tuple[list[str], str]],
    top: int | None,
    echo: bool,
    usage: dict[str, int],
) -> Iterator[dict[str, Any]]:
    base = dict(head)
    if gen.include_usage:
        base["usage"] = None
    for p, (pieces, finish) in enumerate(outputs):
        for j in range(gen.n):
            index = p * gen.n + j
            offset = 0
            for k, piece in enumerate(pieces):
                logprobs = (
                    _legacy_logprobs([piece], top, offset, echo and k == 0)
                    if top is not None else None
                )
                offset += len(piece)
                yield {**base, "choices": [{
                    "text": piece, "index": index, "logprobs": logprobs, "finish_reason": None,
                }]}
            yield {**base, "choices": [{
                "text": "", "index": index, "logprobs": None, "finish_reason": finish,
            }]}
    if gen.include_usage:
        yield {**base, "choices": [], "usage": usage}
