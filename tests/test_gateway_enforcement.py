"""CONSTRAIN on OpenAI traffic, REVIEW holds, admin routes and reload."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import openai
import orjson
import pytest
import yaml

from gateway_harness import ADMIN_KEY, USER_KEY, RunningGateway, http


def chat(gw: RunningGateway, **kw: object) -> openai.types.chat.ChatCompletion:
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=USER_KEY, max_retries=0)
    return c.chat.completions.create(
        model="sample-chat", messages=[{"role": "user", "content": "alpha beta gamma delta"}], **kw)


def only(*rules: dict) -> dict:  # type: ignore[type-arg]
    return {"policy": {"include_defaults": False, "rules": list(rules)}}


def test_cap_max_tokens_rewrites_the_request(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(**only({"id": "cap", "condition": "llm.max_tokens > 2",
                              "action": "CONSTRAIN", "constraint": {"cap_max_tokens": 2}}))
    reply = chat(gw, max_tokens=50)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens <= 2
    assert "max_tokens=2" in gw.entries[-1]["outcome"]["modified"]


def test_drop_logprobs_removes_them_from_request_and_response(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(**only({"id": "nolp", "condition": "llm.logprobs",
                              "action": "CONSTRAIN", "constraint": {"drop_logprobs": True}}))
    reply = chat(gw, logprobs=True, top_logprobs=3)
    assert reply.choices[0].logprobs is None
    assert "dropped logprobs" in gw.entries[-1]["outcome"]["modified"]


def test_response_phase_rule_withholds_a_response(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(**only({"id": "no-delta", "phase": "response",
                              "condition": 'llm.response.contains("delta")', "action": "BLOCK",
                              "atlas": ["AML.T0057"]}))
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(gw)
    assert err.value.code == "response_blocked"
    entry = gw.entries[-1]
    assert entry["response_decision"]["action"] == "BLOCK"
    assert entry["event"]["decision.action"] == "BLOCK"


def _review_gateway(make_gateway, timeout: str = "10s", default: str = "BLOCK") -> RunningGateway:  # type: ignore[no-untyped-def]
    return make_gateway(review={"timeout": timeout, "default": default}, **only(
        {"id": "hold", "condition": 'llm.prompt.contains("wire transfer")', "action": "REVIEW"}))


def _held_request(gw: RunningGateway, results: list[int]) -> threading.Thread:
    body = orjson.dumps({"model": "sample-chat",
                         "messages": [{"role": "user", "content": "start the wire transfer"}]})
    thread = threading.Thread(target=lambda: results.append(
        http("POST", gw.url + "/v1/chat/completions", body).status))
    thread.start()
    return thread


def _raw_held_request(gw: RunningGateway) -> socket.socket:
    """A raw client connection that has sent a request the review rule holds."""
    body = orjson.dumps({"model": "sample-chat",
                         "messages": [{"role": "user", "content": "start the wire transfer"}]})
    sock = socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])), timeout=30)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer ag-test-user-key-0123456789\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    return sock


def _pending(gw: RunningGateway) -> list[dict]:  # type: ignore[type-arg]
    for _ in range(100):
        pending = http("GET", gw.url + "/admin/reviews", key=ADMIN_KEY).json()["pending"]
        if pending:
            return pending  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("no pending review appeared")


def test_review_waits_for_approval(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = _review_gateway(make_gateway)
    results: list[int] = []
    thread = _held_request(gw, results)
    pending = _pending(gw)
    assert results == []  # still held
    decision_id = pending[0]["decision_id"]
    assert http("POST", f"{gw.url}/admin/reviews/{decision_id}/approve", key=ADMIN_KEY).status == 200
    thread.join(10)
    assert results == [200]
    assert gw.entries[-1]["review"] == {"verdict": "ALLOW", "by": "admin:ops"}


def test_review_denied_is_403(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = _review_gateway(make_gateway)
    results: list[int] = []
    thread = _held_request(gw, results)
    decision_id = _pending(gw)[0]["decision_id"]
    http("POST", f"{gw.url}/admin/reviews/{decision_id}/deny", key=ADMIN_KEY)
    thread.join(10)
    assert results == [403]


def test_a_held_request_whose_client_leaves_is_withdrawn_and_logged(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = _review_gateway(make_gateway)
    with _raw_held_request(gw):
        decision_id = _pending(gw)[0]["decision_id"]
    for _ in range(100):
        entry = next((e for e in gw.entries
                      if e.get("decision_id") == decision_id and "outcome" in e), None)
        if entry is not None:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no decision was logged after the held request's client left")
    assert not http("GET", gw.url + "/admin/reviews", key=ADMIN_KEY).json()["pending"]
    assert entry["outcome"]["status"] == 499
    assert entry["outcome"]["error"] == "client_disconnected"
    assert entry["review"] == {"verdict": "WITHDRAWN", "by": "client_disconnected"}
    approve = http("POST", f"{gw.url}/admin/reviews/{decision_id}/approve", key=ADMIN_KEY)
    assert approve.status == 404  # nothing left to approve: the model is never called


def test_a_request_held_when_the_gateway_stops_is_logged_as_withdrawn(make_gateway) -> None:  # type: ignore[no-untyped-def]
    from atlasgate.audit import open_reader
    from atlasgate.audit.encoding import decode_entry

    gw = _review_gateway(make_gateway, timeout="60s")
    with _raw_held_request(gw):
        decision_id = _pending(gw)[0]["decision_id"]
        gw.stop()  # waits out the graceful drain, then cancels the held request
    with open_reader(gw.gateway.snapshot.config.audit.path) as reader:
        records = [decode_entry(row.data).record for row in reader.find(decision_id)]
    assert [r["outcome"]["error"] for r in records] == ["gateway_shutdown"]
    assert records[0]["review"] == {"verdict": "WITHDRAWN", "by": "gateway_shutdown"}


def test_review_timeout_applies_the_configured_default(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = _review_gateway(make_gateway, timeout="300ms", default="ALLOW")
    results: list[int] = []
    _held_request(gw, results).join(10)
    assert results == [200]
    assert gw.entries[-1]["review"]["by"].startswith("timeout")


def test_admin_routes_need_an_admin_key(gateway: RunningGateway) -> None:
    reply = http("GET", gateway.url + "/admin/reviews", key=USER_KEY)
    assert reply.status == 403
    assert http("GET", gateway.url + "/admin/reviews", key=None).status == 401


def _write_config(path: Path, gw_config: dict, rules: list[dict]) -> None:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump({**gw_config, "policy": {"include_defaults": False,
                                                            "rules": rules}}))


def test_an_emptied_policy_file_is_refused_on_reload(make_gateway, samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway_harness import base_config

    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text("- id: no-chat\n  condition: 'api.method == \"chat\"'\n  action: BLOCK\n")
    config_path = tmp_path / "gateway.yaml"
    config = base_config(samples, tmp_path)
    config_path.write_text(yaml.safe_dump({**config, "policy": {"include_defaults": False,
                                                                "files": [str(rules_path)]}}))
    gw = make_gateway(config_path=config_path,
                      policy={"include_defaults": False, "files": [str(rules_path)]})
    rules_path.write_text("")  # as a write still in progress would leave it
    reply = http("POST", gw.url + "/admin/reload", key=ADMIN_KEY)
    assert reply.status == 409
    assert "the policy file is empty" in reply.json()["message"]
    with pytest.raises(openai.PermissionDeniedError):
        chat(gw)


def test_reload_swaps_policy_and_keeps_old_one_when_broken(make_gateway, samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway_harness import base_config

    config_path = tmp_path / "gateway.yaml"
    config = base_config(samples, tmp_path)
    _write_config(config_path, config, [])
    gw = make_gateway(config_path=config_path, policy={"include_defaults": False})
    assert chat(gw).choices
    _write_config(config_path, config, [
        {"id": "no-chat", "condition": 'api.method == "chat"', "action": "BLOCK"}])
    reply = http("POST", gw.url + "/admin/reload", key=ADMIN_KEY)
    assert reply.status == 200, reply.body
    assert gw.entries[-1]["decision_id"] == reply.headers["x-atlasgate-decision-id"]
    with pytest.raises(openai.PermissionDeniedError):
        chat(gw)
    revision = gw.gateway.snapshot.policy.revision
    _write_config(config_path, config, [{"id": "bad", "condition": "api.method ==", "action": "BLOCK"}])
    reply = http("POST", gw.url + "/admin/reload", key=ADMIN_KEY)
    assert reply.status == 409
    message = reply.json()["message"]
    assert "gateway.yaml:" in message
    assert "invalid CEL condition" in message
    assert gw.gateway.snapshot.policy.revision == revision
