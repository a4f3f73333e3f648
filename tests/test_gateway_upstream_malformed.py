"""An upstream that answers oddly: the caller gets what it sent, or a clear error; all is logged.

Each upstream here is a scripted loopback server, so the gateway meets exactly the
bytes under test through real HTTP, as it would in production.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from gateway_harness import LoopThread, Reply, RunningGateway, http
from test_gateway_openai import ScriptedUpstream

EMAIL = "jane.doe@example.com"
CHAT = {"model": "sample-chat", "messages": [{"role": "user", "content": f"write to {EMAIL}"}]}

# Response constraints and restored PII both walk the answer's choices.
CONSTRAINING = {
    "detectors": {"pii": {"restore": True}},
    "policy": {"include_defaults": False, "rules": [
        {"id": "redact-in", "condition": "detection.pii.count > 0",
         "action": "CONSTRAIN", "constraint": {"redact": "findings", "drop_logprobs": True}}]},
}

ODD_BODIES = [
    b'{"choices": 5}',
    b'{"choices": true, "usage": {"prompt_tokens": "ten", "completion_tokens": true}}',
    b'{"choices": [1, "two", null, [3]], "usage": 7}',
    b'{"choices": [{"index": 0, "message": "not an object", "text": 4}]}',
    b'{"choices": [{"index": 0, "message": {"content": {"parts": 1}}}], "usage": []}',
    b'{"choices": {"0": {"message": {"content": "hi"}}}}',
    b'[1, 2, 3]',
    b'"just a string"',
]


@pytest.fixture
def scripted(loop_thread: LoopThread, make_gateway: Callable[..., RunningGateway],
             ) -> Iterator[Callable[..., RunningGateway]]:
    """A gateway in front of an upstream that answers every request with ``raw`` bytes."""
    upstreams: list[ScriptedUpstream] = []

    def start(raw: bytes, **overrides: Any) -> RunningGateway:
        upstream = ScriptedUpstream([(0, raw)])
        upstreams.append(upstream)
        url = loop_thread.run(upstream.start())
        return make_gateway(upstreams={"openai": [{"name": "scripted", "base_url": url,
                                                   "models": ["sample-chat"], "timeout": 5}]},
                            **overrides)

    yield start
    for upstream in upstreams:
        loop_thread.run(upstream.close())


def answer(body: bytes, status: int = 200) -> bytes:
    return (b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (status, len(body)) + body)


def event_stream(*frames: bytes) -> bytes:
    """A chunked SSE answer that ends properly (the zero-length chunk)."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(f + b"\n\n"), f + b"\n\n") for f in frames)
    return head + chunks + b"0\r\n\r\n"


def post(gw: RunningGateway, **extra: Any) -> Reply:
    return http("POST", gw.url + "/v1/chat/completions", json.dumps({**CHAT, **extra}).encode())


def logged(gw: RunningGateway, reply: Reply) -> dict[str, Any]:
    """The decision entry of ``reply``, found by the id the gateway returned."""
    decision_id = reply.headers["x-atlasgate-decision-id"]
    entries = [e for e in gw.entries if e.get("decision_id") == decision_id and "outcome" in e]
    assert len(entries) == 1
    return entries[0]


# --- whole answers ----------------------------------------------------------------------

@pytest.mark.parametrize("body", ODD_BODIES)
def test_an_odd_json_answer_is_relayed_as_sent_and_logged(scripted, body: bytes) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(answer(body), **CONSTRAINING)
    reply = post(gw)
    assert reply.status == 200
    assert reply.body == body
    entry = logged(gw, reply)
    assert entry["outcome"]["status"] == 200
    assert entry["outcome"]["error"] is None


def test_odd_usage_counts_are_not_taken_as_token_counts(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(answer(b'{"choices": [], "usage": {"prompt_tokens": true, '
                         b'"completion_tokens": "3"}}'))
    reply = post(gw)
    assert reply.status == 200
    event = logged(gw, reply)["event"]
    assert "llm.usage.prompt_tokens" not in event
    assert "llm.usage.completion_tokens" not in event


def test_an_odd_error_answer_keeps_its_status(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(answer(b'{"choices": 5}', status=503))
    reply = post(gw)
    assert (reply.status, reply.body) == (503, b'{"choices": 5}')
    assert logged(gw, reply)["outcome"]["status"] == 503


# --- streams ----------------------------------------------------------------------------

def chunk(content: str, index: Any = 0, finish: str | None = None) -> bytes:
    event = {"object": "chat.completion.chunk",
             "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}]}
    return b"data: " + json.dumps(event).encode()


ODD_FRAMES = [b"data: [1,2,3]", b'data: {"choices":5}', b'data: "text"', b"data: 7",
              b'data: {"choices":{"0":{"delta":{"content":"y"}}}}']


def test_frames_of_an_odd_shape_pass_through_and_the_stream_ends(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(event_stream(chunk("one "), *ODD_FRAMES, chunk("two", finish="stop"),
                               b"data: [DONE]"))
    reply = post(gw, stream=True)  # a cut-off chunked body raises IncompleteRead here
    text = reply.body.decode()
    assert reply.status == 200
    for frame in ODD_FRAMES:
        assert frame.decode() + "\n\n" in text
    assert '"content":"one "' in text
    assert '"content":"two"' in text
    assert text.endswith("data: [DONE]\n\n")
    assert '"error"' not in text
    assert logged(gw, reply)["outcome"]["status"] == 200
    assert not [e for e in gw.entries if e.get("kind") == "stream_error"]


@pytest.mark.parametrize("index", [[1], {"i": 1}, None, "1", 1.0, True])
def test_a_chunk_with_an_odd_index_is_still_scanned_and_relayed(scripted, index: Any) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(event_stream(chunk("some words ", index), chunk("and more", index, "stop"),
                               b"data: [DONE]"))
    reply = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}])
    text = reply.body.decode()
    assert reply.status == 200
    assert "some words " in text
    assert "and more" in text
    assert text.endswith("data: [DONE]\n\n")
    assert logged(gw, reply)["outcome"]["status"] == 200
    assert not [e for e in gw.entries if e.get("kind") == "stream_error"]


def test_an_email_split_across_odd_indices_is_scanned_as_one_text(scripted) -> None:  # type: ignore[no-untyped-def]
    redact_out = {"include_defaults": False, "rules": [
        {"id": "redact-out", "phase": "response", "condition": "detection.pii.count > 0",
         "action": "CONSTRAIN", "constraint": {"redact": "findings"}}]}
    name, domain = EMAIL.split("@")
    gw = scripted(event_stream(chunk(f"mail {name}", 1), chunk(f"@{domain} now", "1", "stop"),
                               b"data: [DONE]"), policy=redact_out)
    reply = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}])
    text = reply.body.decode()
    assert reply.status == 200
    assert domain not in text
    assert "[EMAIL_1]" in text


def streamed_text(body: bytes) -> str:
    """What a client shows: every chunk's delta content, in order."""
    text = ""
    for frame in body.decode().split("\n\n"):
        data = "\n".join(line[6:] for line in frame.split("\n") if line.startswith("data: "))
        if data.startswith("{"):
            for choice in json.loads(data).get("choices") or ():
                text += ((choice.get("delta") or {}).get("content") or "")
    return text


FINISH_ONLY = b'data: {"id": "c9", "model": "m", "choices": [{"index": 0, "finish_reason": "stop"}]}'
SENTENCE = "the answer is forty two"


@pytest.mark.parametrize("ending", [
    (FINISH_ONLY, b"data: [DONE]"),  # the finish frame carries no delta
    (b"data: [DONE]",),  # no finish frame at all
    (),  # the stream just ends
])
def test_the_held_back_tail_of_a_stream_always_reaches_the_client(scripted, ending) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(event_stream(chunk(SENTENCE), *ending))
    reply = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}])
    assert reply.status == 200
    assert streamed_text(reply.body) == SENTENCE
    if ending and ending[-1] == b"data: [DONE]":
        assert reply.body.decode().endswith("data: [DONE]\n\n")


def test_a_released_tail_is_still_scanned_and_redacted(scripted) -> None:  # type: ignore[no-untyped-def]
    redact_out = {"include_defaults": False, "rules": [
        {"id": "redact-out", "phase": "response", "condition": "detection.pii.count > 0",
         "action": "CONSTRAIN", "constraint": {"redact": "findings"}}]}
    gw = scripted(event_stream(chunk(f"write to {EMAIL}"), b"data: [DONE]"), policy=redact_out)
    reply = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}])
    text = streamed_text(reply.body)
    assert text.startswith("write to ")
    assert EMAIL not in text
    assert "[EMAIL_1]" in text


def test_the_released_tail_comes_in_a_chunk_shaped_like_the_upstreams(scripted) -> None:  # type: ignore[no-untyped-def]
    first = (b'data: {"id": "c9", "object": "chat.completion.chunk", "created": 5, "model": "m", '
             b'"choices": [{"index": 0, "delta": {"content": "' + SENTENCE.encode() + b'"}}]}')
    gw = scripted(event_stream(first, b"data: [DONE]"))
    body = post(gw, stream=True).body
    frames = body.decode().split("\n\n")
    assert len(frames) == 4  # the upstream's chunk, the released tail, [DONE], ""
    assert streamed_text(body) == SENTENCE
    last = json.loads(frames[1][6:])
    assert {k: last[k] for k in ("id", "object", "created", "model")} == {
        "id": "c9", "object": "chat.completion.chunk", "created": 5, "model": "m"}
    assert last["choices"][0]["index"] == 0


def test_a_failure_while_relaying_ends_the_stream_with_an_error_and_is_logged(
        scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlasgate.gateway.inspection import ContentStage

    async def breaks_after_one(self: ContentStage, chunks: AsyncIterator[bytes],
                               ) -> AsyncIterator[bytes]:
        async for part in chunks:
            yield part
            raise RuntimeError("a stage failed unexpectedly")

    monkeypatch.setattr(ContentStage, "rewrite_stream", breaks_after_one)
    gw = scripted(event_stream(chunk("one "), chunk("two"), b"data: [DONE]"))
    reply = post(gw, stream=True)
    text = reply.body.decode()
    assert reply.status == 200
    assert '"content": "one "' in text
    error = json.loads(text.rstrip().rsplit("data: ", 1)[1])["error"]
    assert error["code"] == "internal_error"
    assert "a stage failed" not in text  # the exception's text stays in the gateway's log
    failures = [e for e in gw.entries if e.get("kind") == "stream_error"]
    assert [(e["decision_id"], e["error"]) for e in failures] == [
        (reply.headers["x-atlasgate-decision-id"], "internal_error")]


# --- failures named without internals ---------------------------------------------------

def test_an_unreachable_upstream_is_named_without_its_address(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(upstreams={"openai": [{"name": "dead", "base_url": "http://127.0.0.1:9/v1",
                                             "models": ["sample-chat"]}]})
    reply = post(gw)
    error = reply.json()["error"]
    assert reply.status == 502
    assert error["code"] == "upstream_unavailable"
    assert error["message"] == "upstream is unreachable: connection refused"
    assert logged(gw, reply)["outcome"]["error"] == "upstream_unavailable"


def test_an_answer_that_is_not_http_is_named_without_the_upstream_url(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(b"SURPRISE this is not HTTP\r\n\r\n")
    reply = post(gw)
    error = reply.json()["error"]
    assert reply.status == 502
    assert error["code"] == "upstream_error"
    assert "malformed HTTP response" in error["message"]
    assert "127.0.0.1" not in error["message"]
    assert "/v1" not in error["message"]
    assert logged(gw, reply)["outcome"]["error"] == "upstream_error"


# --- answers too large to hold ------------------------------------------------------------

def chunked_answer(body: bytes, piece: int = 4096) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    parts = [body[i:i + piece] for i in range(0, len(body), piece)]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


BIG = json.dumps({"choices": [{"index": 0, "message": {"content": "x" * 20_000}}]}).encode()


@pytest.mark.parametrize(("raw", "size"), [(answer(BIG), f"{len(BIG)} bytes"),
                                           (chunked_answer(BIG), "more than 10000 bytes")])
def test_an_answer_over_max_response_bytes_is_502_and_logged(scripted, raw: bytes,  # type: ignore[no-untyped-def]
                                                             size: str) -> None:
    gw = scripted(raw, limits={"max_response_bytes": 10_000})
    reply = post(gw)
    assert reply.status == 502
    error = reply.json()["error"]
    assert error["code"] == "upstream_response_too_large"
    assert f"upstream answer of {size} exceeds limits.max_response_bytes (10000)" in error["message"]
    assert logged(gw, reply)["outcome"]["error"] == "upstream_response_too_large"


@pytest.mark.parametrize("raw", [answer(BIG), chunked_answer(BIG)])
def test_an_answer_within_max_response_bytes_is_relayed_whole(scripted, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(raw, limits={"max_response_bytes": len(BIG)})
    reply = post(gw)
    assert reply.status == 200
    assert reply.body == BIG


@pytest.mark.parametrize(("value", "index"), [
    (3, 3), (True, 1), (2.0, 2), (" 7 ", 7), ("9" * 100_000, 0), (10**30, 0), (-1, 0),
    (127, 127), (128, 0), (2.5, 0), ([1], 0), (None, 0),
])
def test_a_stream_reads_at_most_128_choice_indices(value: Any, index: int) -> None:
    from atlasgate.gateway.inspection import choice_index

    assert choice_index(value) == index


# --- a client that leaves mid-stream -------------------------------------------------------

def slow_stream(loop_thread: LoopThread, make_gateway: Callable[..., RunningGateway],
                seconds: int) -> tuple[ScriptedUpstream, RunningGateway]:
    """A gateway in front of an upstream that streams a chunk every 0.2 s for ``seconds``."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    frame = chunk("more words ") + b"\n\n"
    piece = b"%x\r\n%s\r\n" % (len(frame), frame)
    upstream = ScriptedUpstream([(0, head + piece), *[(0.2, piece)] * (seconds * 5)])
    url = loop_thread.run(upstream.start())
    return upstream, make_gateway(upstreams={"openai": [
        {"name": "scripted", "base_url": url, "models": ["sample-chat"], "timeout": 5}]})


def open_stream(gw: RunningGateway) -> socket.socket:
    """A raw client connection that has sent a streaming chat request."""
    body = json.dumps({**CHAT, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    sock = socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])), timeout=30)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer ag-test-user-key-0123456789\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body.encode()))
    return sock


def test_a_client_leaving_mid_stream_stops_the_relay_and_is_logged(  # type: ignore[no-untyped-def]
        loop_thread: LoopThread, make_gateway) -> None:
    import time

    upstream, gw = slow_stream(loop_thread, make_gateway, seconds=10)
    with open_stream(gw) as sock:
        assert b"more words" in sock.recv(65536) + sock.recv(65536)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [e for e in gw.entries if e.get("error") == "client_disconnected"]
        if left:
            break
        time.sleep(0.05)
    assert left
    assert left[0]["kind"] == "stream_error"
    assert left[0]["message"].endswith("the upstream stream was stopped")
    while upstream.cut_off == 0 and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    assert upstream.cut_off == 1  # long before its 10 s were sent
    assert http("GET", gw.url + "/healthz").status == 200
    loop_thread.run(upstream.close())


# --- what a stream scanner must not miss ----------------------------------------------------

REDACT_OUT = {"include_defaults": False, "rules": [
    {"id": "redact-out", "phase": "response", "condition": "detection.pii.count > 0",
     "action": "CONSTRAIN", "constraint": {"redact": "findings"}}]}


def test_a_stream_request_answered_with_whole_json_is_inspected_as_a_whole(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(answer(json.dumps({"choices": [{"index": 0, "message": {
        "role": "assistant", "content": f"mail {EMAIL}"}}]}).encode()), policy=REDACT_OUT)
    reply = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}])
    assert reply.status == 200
    assert EMAIL not in reply.body.decode()
    assert "[EMAIL_1]" in reply.json()["choices"][0]["message"]["content"]


def sse(*frames: bytes, newline: bytes = b"\n") -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    body = b"".join(f.replace(b"\n", newline) + newline * 2 for f in frames)
    return head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def delta(text: str) -> bytes:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode()


@pytest.mark.parametrize("frames", [
    [b"event: message\nid: 7\ndata: " + delta(f"mail {EMAIL} now")],
    [b": keep-alive\ndata: " + delta(f"mail {EMAIL} now").replace(b', "delta"', b',\ndata: "delta"')],
], ids=["event-and-id-lines", "data-over-two-lines"])
def test_frames_with_more_than_one_line_are_scanned(scripted, frames: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(sse(*frames, b"data: [DONE]"), policy=REDACT_OUT)
    body = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}]).body.decode()
    assert EMAIL not in body
    assert "[EMAIL_1]" in streamed_text(body.encode())
    if frames[0].startswith(b"event:"):
        assert body.startswith("event: message\nid: 7\ndata: ")


def test_lines_ending_in_a_bare_carriage_return_are_frames_too(scripted) -> None:  # type: ignore[no-untyped-def]
    gw = scripted(sse(b"data: " + delta(f"mail {EMAIL} now"), b"data: [DONE]", newline=b"\r"),
                  policy=REDACT_OUT)
    body = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}]).body
    assert EMAIL.encode() not in body
    assert "[EMAIL_1]" in streamed_text(body)


@pytest.mark.parametrize(("first", "second", "shown"), [
    ((0, "stop"), (0, None), "mail jane.doe"),  # text after a finish is not relayed
    ((0, ""), (0, ""), "mail [EMAIL_1] now"),   # an empty finish_reason finishes nothing
    ((1, None), ("00001", None), "mail [EMAIL_1] now"),
], ids=["after-finish", "empty-finish", "padded-index"])
def test_an_email_split_around_a_finish_or_an_odd_index_never_leaves_whole(  # type: ignore[no-untyped-def]
        scripted, first: tuple[Any, Any], second: tuple[Any, Any], shown: str) -> None:
    name, domain = EMAIL.split("@")
    frames = [b"data: " + json.dumps({"choices": [
        {"index": index, "delta": {"content": text}, "finish_reason": finish}]}).encode()
        for (index, finish), text in ((first, f"mail {name}"), (second, f"@{domain} now"))]
    gw = scripted(sse(*frames, b"data: [DONE]"), policy=REDACT_OUT)
    body = post(gw, stream=True, messages=[{"role": "user", "content": "hi"}]).body
    assert domain.encode() not in body
    assert streamed_text(body) == shown


def test_a_stream_cut_by_the_gateway_stopping_is_told_and_logged(  # type: ignore[no-untyped-def]
        loop_thread: LoopThread, make_gateway) -> None:
    from atlasgate.audit import open_reader
    from atlasgate.audit.encoding import decode_entry

    upstream, gw = slow_stream(loop_thread, make_gateway, seconds=30)
    with open_stream(gw) as sock:
        received = sock.recv(65536)
        decision_id = received.split(b"x-atlasgate-decision-id: ")[1].split(b"\r\n")[0].decode()
        gw.stop()  # waits out the graceful drain, then cancels the stream
        while b"gateway_shutdown" not in received:
            more = sock.recv(65536)
            if not more:
                break
            received += more
    assert b"the gateway is shutting down; stream stopped" in received
    with open_reader(gw.gateway.snapshot.config.audit.path) as reader:
        records = [decode_entry(row.data).record for row in reader.find(decision_id)]
    assert [r.get("error") for r in records if r.get("kind") == "stream_error"] == [
        "gateway_shutdown"]
    loop_thread.run(upstream.close())
