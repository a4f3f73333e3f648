"""Bad input gets a clear error, is recorded as a decision, and never harms the process."""

from __future__ import annotations

import socket
from typing import Any

import orjson

from gateway_harness import RunningGateway, http

CHAT = "/v1/chat/completions"


def test_malformed_json_is_400_and_logged(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, b'{"model": "sample-chat", "messages": [')
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_json"
    assert "malformed JSON" in error["message"]
    assert gateway.entries[-1]["decision"]["rule"] == "input.invalid_json"


def test_invalid_utf8_is_400(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, b'{"model": "sample-chat", "x": "\xff\xfe"}')
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_encoding"


def test_deeply_nested_json_is_400(gateway: RunningGateway) -> None:
    body = b'{"model": "sample-chat", "messages": ' + b"[" * 200 + b"]" * 200 + b"}"
    reply = http("POST", gateway.url + CHAT, body)
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "json_too_deep"


def test_non_object_body_is_400(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, b"[1, 2, 3]")
    assert reply.status == 400
    assert "expected a JSON object" in reply.json()["error"]["message"]


def test_messages_must_be_a_list_of_roles(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"content": "no role"}]}))
    assert reply.status == 400
    assert reply.json()["error"]["param"] == "messages[0]"


def test_tool_calls_that_are_not_an_array_are_400_and_logged(gateway: RunningGateway) -> None:
    for calls in (5, True, "call", {"id": "x"}):
        reply = http("POST", gateway.url + CHAT, orjson.dumps({"model": "sample-chat", "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": calls}]}))
        assert reply.status == 400, calls
        assert reply.json()["error"]["param"] == "messages[1].tool_calls"
        assert gateway.entries[-1]["outcome"]["error"] == "invalid_request"


def raw_chat_request(gw: RunningGateway, length: int, body: bytes, until: bytes) -> bytes:
    """Send headers declaring ``length`` bytes and only ``body``; read until ``until`` arrives."""
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer ag-test-user-key-0123456789\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
                     + body)
        answer = b""
        while until not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_client_that_stalls_mid_body_gets_408_and_the_decision_is_logged(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(limits={"body_timeout": "300ms"})
    answer = raw_chat_request(gw, 1000, b"{", until=b"body_timeout")
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 0.3s" in answer
    assert gw.entries[-1]["outcome"]["error"] == "body_timeout"


def test_oversized_body_is_refused_before_it_is_read(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(limits={"max_body_bytes": 1000})
    # Declare 50 MB but send only the headers: the answer must come without the body.
    answer = raw_chat_request(gw, 50_000_000, b"", until=b"exceeds")
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"exceeds the limit of 1000 bytes" in answer


def test_chunked_body_over_the_limit_is_413(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(limits={"max_body_bytes": 1000})
    body = orjson.dumps({"model": "sample-chat", "messages": [{"role": "user", "content": "x" * 5000}]})
    reply = http("POST", gw.url + CHAT, body)
    assert reply.status == 413
    assert gw.entries[-1]["decision"]["rule"] == "input.body_too_large"


def test_unknown_route_and_wrong_method(gateway: RunningGateway) -> None:
    assert http("GET", gateway.url + "/v1/nothing").status == 404
    reply = http("GET", gateway.url + CHAT)
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"


def test_the_gateway_keeps_serving_after_bad_input(gateway: RunningGateway) -> None:
    for body in (b"", b"{", b"\x00\x01", b'{"model": 5}', b"null"):
        assert http("POST", gateway.url + CHAT, body).status == 400
    ok = http("POST", gateway.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": "still there?"}]}))
    assert ok.status == 200


def test_policy_error_fails_closed_by_default(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy={"include_defaults": False, "rules": [
        {"id": "broken", "condition": "llm.prompt > 5", "action": "LOG"}]})
    reply = http("POST", gw.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": "hi"}]}))
    assert reply.status == 403
    assert gw.entries[-1]["decision"]["rule"] == "policy.error"


def test_policy_error_fails_open_when_configured(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(fail_mode="open", policy={"include_defaults": False, "rules": [
        {"id": "broken", "condition": "llm.prompt > 5", "action": "LOG"}]})
    reply = http("POST", gw.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": "hi"}]}))
    assert reply.status == 200
    decision = gw.entries[-1]["decision"]
    assert decision["action"] == "ALLOW"
    assert "fail_mode=open" in decision["reasons"][0]


def test_under_fail_open_a_failing_rule_does_not_switch_off_the_others(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(fail_mode="open", policy={"include_defaults": False, "rules": [
        {"id": "broken", "condition": "llm.prompt > 5", "action": "LOG"},
        {"id": "no-secrets", "condition": "llm.prompt.contains('launch code')", "action": "BLOCK"},
    ]})
    blocked = http("POST", gw.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": "the launch code"}]}))
    assert blocked.status == 403
    decision = gw.entries[-1]["decision"]
    assert (decision["action"], decision["rule"]) == ("BLOCK", "no-secrets")
    assert "rule broken" in decision["failed"][0]
    assert not any("broken" in reason for reason in decision["reasons"])
    assert "broken" not in blocked.json()["error"]["message"]
    assert "fail_mode=open" in decision["failed"][0]
    served = http("POST", gw.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": "hi"}]}))
    assert served.status == 200
    assert gw.entries[-1]["decision"]["rule"] == "policy.error"


def _fill_the_log_disk(gw: RunningGateway, full: bool) -> None:
    """SQLite's own size cap makes the log's next page allocation fail as a full disk does."""
    async def cap() -> None:
        log = gw.gateway.decision_log
        assert log is not None
        db = log._store._db  # type: ignore[union-attr]
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages if full else 1073741823}")

    gw.thread.run(cap())


def _chat(gw: RunningGateway, text: str) -> Any:
    return http("POST", gw.url + CHAT, orjson.dumps(
        {"model": "sample-chat", "messages": [{"role": "user", "content": text * 2000}]}))


def test_a_full_log_disk_refuses_requests_when_fail_mode_is_closed(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(fail_mode="closed")
    assert _chat(gw, "before ").status == 200
    _fill_the_log_disk(gw, full=True)
    reply = _chat(gw, "during ")
    assert reply.status == 503
    assert reply.json()["error"]["code"] == "audit_unavailable"
    assert "could not be recorded" in reply.json()["error"]["message"]
    _fill_the_log_disk(gw, full=False)
    assert _chat(gw, "after ").status == 200
    logged = [e["event"]["api.body_bytes"] for e in gw.entries if "event" in e]
    assert len(logged) == 2  # the refused request was never acknowledged as logged


def test_a_full_log_disk_keeps_serving_when_fail_mode_is_open(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(fail_mode="open")
    _fill_the_log_disk(gw, full=True)
    assert _chat(gw, "during ").status == 200
    _fill_the_log_disk(gw, full=False)
    assert _chat(gw, "after ").status == 200
