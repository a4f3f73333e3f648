"""Edges of the request itself: body encoding and timing, route names, verbs, and logging.

Every refusal here is also a decision in the log, whether or not the caller sent a key.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from atlasgate.config.schema import JSON_PARSER_MAX_DEPTH, Limits
from atlasgate.demo.upstream import SampleUpstreams
from atlasgate.gateway.http import BadRequest, Message, parse_json_object, read_body
from gateway_harness import ADMIN_KEY, USER_KEY, RunningGateway, http

CHAT = "/v1/chat/completions"
HELLO = orjson.dumps({"model": "sample-chat", "messages": [{"role": "user", "content": "hi"}]})


def refusal(body: bytes, max_depth: int = 64) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse_json_object(body, max_depth)
    return caught.value


def assert_logged(gw: RunningGateway, reply: Any, rule: str, status: int) -> None:
    """The reply names its decision, and the log holds that decision with this outcome."""
    entry = gw.entries[-1]
    assert reply.headers["x-atlasgate-decision-id"] == entry["decision_id"]
    assert entry["decision"]["rule"] == rule
    assert entry["outcome"]["status"] == status


# --- JSON errors are named by what is wrong, not by the parser's wording ---------------


def test_a_lone_surrogate_escape_is_malformed_json_not_bad_utf8() -> None:
    error = refusal(rb'{"model": "m", "x": "\ud800"}')
    assert error.code == "invalid_json"
    assert "surrogate pair" in error.message


def test_a_byte_order_mark_is_malformed_json_not_bad_utf8() -> None:
    error = refusal(b'\xef\xbb\xbf{"model": "m"}')
    assert error.code == "invalid_json"
    assert "byte order mark" in error.message


def test_invalid_utf8_bytes_are_an_encoding_error_with_their_offset() -> None:
    error = refusal(b'{"x": "\xff"}')
    assert error.code == "invalid_encoding"
    assert "offset 7" in error.message


def test_an_encoded_surrogate_is_invalid_utf8() -> None:
    assert refusal(b'{"x": "\xed\xa0\x80"}').code == "invalid_encoding"


@pytest.mark.parametrize("body", [
    b"[" * 2000 + b"]" * 2000,   # orjson: "depth limit exceeded"
    b"[" * 2000,                 # orjson: "depth limit exceeded", unterminated
    b'{"a": ' + b"[" * 1030,     # orjson: "failed to allocate memory"
], ids=["closed", "unterminated", "orjson-memory-message"])
def test_nesting_beyond_the_parser_is_json_too_deep(body: bytes) -> None:
    error = refusal(body)
    assert error.code == "json_too_deep"
    assert error.message == "JSON nested deeper than 64 levels"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert refusal(b'{"a": "' + b"[" * 2000 + b'", "b": }').code == "invalid_json"


@pytest.mark.parametrize("tail", [b'\\"' * 200_000, b"a\\" * 200_000],
                         ids=["escaped-quotes", "trailing-backslash"])
def test_an_unclosed_string_of_escapes_is_classified_in_one_pass(tail: bytes) -> None:
    # Restarting the string search at every quote inside it took minutes on this body.
    assert refusal(b"[" * 100 + b'"' + tail).code == "json_too_deep"
    assert refusal(b'{"a": "' + tail).code == "invalid_json"


def test_the_parser_accepts_exactly_the_largest_configurable_depth() -> None:
    depth = JSON_PARSER_MAX_DEPTH
    assert parse_json_object(b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}", depth)
    assert refusal(b'{"a": ' + b"[" * depth + b"]" * depth + b"}", depth).code == "json_too_deep"


def test_a_lone_surrogate_through_http_is_400_invalid_json_and_logged(
        gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT,
                 rb'{"model": "sample-chat", "messages": [{"role": "user", "content": "\udfff"}]}')
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_json"
    assert_logged(gateway, reply, "input.invalid_json", 400)


# --- limits configuration ----------------------------------------------------------------


def test_max_json_depth_is_capped_at_what_the_parser_honours() -> None:
    assert Limits(max_json_depth=JSON_PARSER_MAX_DEPTH).max_json_depth == 1024
    with pytest.raises(ValidationError, match="max_json_depth can be at most 1024"):
        Limits(max_json_depth=1025)


def test_body_timeout_defaults_to_30s_and_must_be_positive() -> None:
    assert Limits().body_timeout == 30.0
    assert Limits(body_timeout="250ms").body_timeout == 0.25
    with pytest.raises(ValidationError, match="must be positive"):
        Limits(body_timeout=0)


# --- compressed bodies ---------------------------------------------------------------------


def test_a_gzip_body_is_415_before_parsing_and_logged(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, gzip.compress(HELLO),
                 headers={"content-encoding": "gzip"})
    assert reply.status == 415
    error = reply.json()["error"]
    assert error["code"] == "unsupported_encoding"
    assert "Content-Encoding gzip is not supported" in error["message"]
    assert_logged(gateway, reply, "input.unsupported_encoding", 415)


def test_identity_content_encoding_is_accepted(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + CHAT, HELLO, headers={"content-encoding": "identity"})
    assert reply.status == 200


# --- the body must arrive within limits.body_timeout -------------------------------------


def scope_declaring(size: int) -> dict[str, Any]:
    return {"type": "http", "headers": [(b"content-length", str(size).encode())]}


async def one_byte_then_stall() -> Message:
    """A slowloris client: one byte of the declared body, then nothing."""
    one_byte_then_stall.calls += 1  # type: ignore[attr-defined]
    if one_byte_then_stall.calls == 1:  # type: ignore[attr-defined]
        return {"type": "http.request", "body": b"{", "more_body": True}
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_stalled_body_is_408_after_the_timeout() -> None:
    one_byte_then_stall.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(BadRequest) as caught:
        await asyncio.wait_for(read_body(scope_declaring(1000), one_byte_then_stall, 1000,
                                         timeout=0.05), 5)
    assert (caught.value.status, caught.value.code) == (408, "body_timeout")
    assert "did not arrive within 0.05s" in caught.value.message


async def test_the_timeout_bounds_the_whole_body_not_each_chunk() -> None:
    async def trickle() -> Message:
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b" ", "more_body": True}

    with pytest.raises(BadRequest) as caught:
        await asyncio.wait_for(read_body(scope_declaring(1000), trickle, 1000, timeout=0.1), 5)
    assert caught.value.status == 408


async def test_a_body_that_arrives_in_time_is_read_whole() -> None:
    parts = iter([{"type": "http.request", "body": b'{"a":', "more_body": True},
                  {"type": "http.request", "body": b" 1}", "more_body": False}])

    async def receive() -> Message:
        return next(parts)

    assert await read_body(scope_declaring(8), receive, 1000, timeout=1) == b'{"a": 1}'


# --- model names with '/' and ':' --------------------------------------------------------


@pytest.fixture
def named_gateway(make_gateway, samples: SampleUpstreams) -> RunningGateway:  # type: ignore[no-untyped-def]
    """Model names as vLLM (org/model) and Ollama (llama3:8b) spell them."""
    return make_gateway(upstreams={  # type: ignore[no-any-return]
        "openai": [{"name": "sample", "base_url": samples.chat_base_url,
                    "models": ["sample-chat", "org/model", "llama3:8b"]}],
        "predict": [{"name": "sample-digits", "base_url": samples.predict_base_url},
                    {"name": "team/digits:v2", "base_url": samples.predict_base_url,
                     "upstream_model": "sample-digits"}],
    })


@pytest.mark.parametrize("name", ["org/model", "llama3:8b", "sample-chat"])
def test_openai_models_are_retrieved_by_names_with_slashes_and_colons(
        named_gateway: RunningGateway, name: str) -> None:
    reply = http("GET", f"{named_gateway.url}/v1/models/{name}")
    assert reply.status == 200
    assert reply.json()["id"] == name


def test_kserve_v1_predict_takes_the_name_before_the_predict_suffix(
        named_gateway: RunningGateway, samples: SampleUpstreams) -> None:
    row = samples.classifier.X[:1].astype(float).tolist()
    reply = http("POST", f"{named_gateway.url}/v1/models/team/digits:v2:predict",
                 orjson.dumps({"instances": row}))
    assert reply.status == 200
    assert len(reply.json()["predictions"]) == 1
    assert named_gateway.entries[-1]["event"]["api.model"] == "team/digits:v2"


def test_kserve_v1_status_of_a_name_with_slash_and_colon(named_gateway: RunningGateway) -> None:
    reply = http("GET", f"{named_gateway.url}/v1/models/team/digits:v2")
    assert reply.status == 200
    assert named_gateway.entries[-1]["event"]["api.method"] == "models"
    assert named_gateway.entries[-1]["event"]["api.model"] == "team/digits:v2"


@pytest.mark.parametrize(("verb", "path", "status"), [
    ("GET", "/v1/models", 200),
    ("GET", "/v1/models/", 404),
    ("GET", "/v1/models/sample-digits", 200),
    ("GET", "/v1/models/sample-digits:predict", 405),
    ("GET", "/v2/models/sample-digits", 200),
    ("GET", "/v2/models/org/model", 404),          # v2 names are one path segment
    ("GET", "/v2/models/sample-digits/infer", 405),
    ("GET", "/v2/models/sample-digits/versions/1", 404),
    ("POST", "/v1/models", 404),
    ("GET", "/healthz", 200),
])
def test_existing_routes_route_as_before(named_gateway: RunningGateway, verb: str, path: str,
                                         status: int) -> None:
    assert http(verb, named_gateway.url + path).status == status


# --- 404 and 405 are decisions in the log ------------------------------------------------


def test_no_route_is_404_with_a_decision_id_and_logged_without_a_key(
        gateway: RunningGateway) -> None:
    reply = http("GET", gateway.url + "/v1/nothing", key=None)
    assert reply.status == 404
    assert reply.json()["error"]["message"] == "no route for GET /v1/nothing"
    assert reply.headers["x-atlasgate-action"] == "BLOCK"
    assert_logged(gateway, reply, "input.no_route", 404)
    assert gateway.entries[-1]["event"]["api.endpoint"] == "/v1/nothing"


def test_wrong_method_is_405_with_allow_and_logged(gateway: RunningGateway) -> None:
    reply = http("GET", gateway.url + CHAT)
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert reply.json()["error"]["code"] == "method_not_allowed"
    assert_logged(gateway, reply, "input.method_not_allowed", 405)


def test_wrong_method_on_a_predict_route_is_405_and_logged(gateway: RunningGateway) -> None:
    reply = http("PUT", gateway.url + "/v2/models/sample-digits/infer")
    assert reply.status == 405
    assert reply.json() == {"error": "method PUT not allowed; use POST",
                            "code": "method_not_allowed"}
    assert_logged(gateway, reply, "input.method_not_allowed", 405)


# --- admin reads and failed verdicts are logged -------------------------------------------


def test_reading_the_review_queue_is_logged(gateway: RunningGateway) -> None:
    reply = http("GET", gateway.url + "/admin/reviews", key=ADMIN_KEY)
    assert reply.status == 200
    assert reply.json() == {"pending": []}
    assert reply.headers["x-atlasgate-decision-id"] == gateway.entries[-1]["decision_id"]
    entry = gateway.entries[-1]
    assert entry["event"]["api.endpoint"] == "/admin/reviews"
    assert entry["event"]["client.key_id"] == "ops"
    assert entry["outcome"]["status"] == 200


def test_a_verdict_on_no_pending_review_is_404_and_logged(gateway: RunningGateway) -> None:
    reply = http("POST", gateway.url + "/admin/reviews/0123abcd/deny", key=ADMIN_KEY)
    assert reply.status == 404
    assert reply.json() == {"error": "no pending review 0123abcd", "code": "review_not_found"}
    assert_logged(gateway, reply, "admin.review_not_found", 404)
    assert gateway.entries[-1]["event"]["client.key_id"] == "ops"


def test_admin_routes_still_need_an_admin_key(gateway: RunningGateway) -> None:
    assert http("POST", gateway.url + "/admin/reviews/0123abcd/deny", key=USER_KEY).status == 403
    assert gateway.entries[-1]["decision"]["rule"] == "auth.admin"


# --- HEAD is GET without the body ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/healthz"])
def test_head_answers_like_get_without_a_body(gateway: RunningGateway, path: str) -> None:
    got = http("GET", gateway.url + path)
    head = http("HEAD", gateway.url + path)
    assert head.status == got.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(got.body))


def test_head_on_a_post_route_is_405(gateway: RunningGateway) -> None:
    reply = http("HEAD", gateway.url + CHAT)
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert reply.body == b""
