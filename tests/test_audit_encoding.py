"""The canonical byte encoding of log entries: one form, strict about what it accepts."""

from __future__ import annotations

import datetime
import enum
import math
from dataclasses import dataclass

import orjson
import pytest

from atlasgate.audit.encoding import (
    GENESIS_PREV,
    assemble_entry,
    canonical,
    decode_entry,
    encode_record,
    format_timestamp,
)
from atlasgate.audit.errors import EncodingError, MalformedEntryError
from atlasgate.policy.decision import Action

RECORDS = [
    {"decision_id": "d-1"},
    {"decision_id": "d-2", "action": "BLOCK", "reasons": ["prompt injection"], "score": 0.93},
    {
        "decision_id": "d-3",
        "event": {"api.method": "chat", "client.tenant": "acme", "llm.max_tokens": 256},
        "atlas": ["AML.T0051.000", "AML.T0054"],
        "rule": None,
        "nested": {"z": [1, 2.5, {"b": True, "a": False}], "a": -0.0},
        "text": 'naïve “quotes” \u2028 line sep, emoji 🛡️, tab\t, quote ", backslash \\',
    },
    {"decision_id": "d-4", "big": 2**63 - 1, "small": -(2**63), "tiny": 5e-324, "huge": 1.7e308},
]


@pytest.mark.parametrize("record", RECORDS)
def test_assembled_entry_equals_the_canonical_encoding_of_the_whole_entry(
    record: dict[str, object],
) -> None:
    decision_id, record_bytes = encode_record(record)
    data = assemble_entry(17, "ab" * 32, "2026-01-02T03:04:05.000006Z", record_bytes)
    entry = {"seq": 17, "prev": "ab" * 32, "logged_at": "2026-01-02T03:04:05.000006Z", "record": record}
    assert data == canonical(entry)
    decoded = decode_entry(data)
    assert decoded.seq == 17
    assert decoded.decision_id == decision_id == record["decision_id"]
    assert decoded.record == orjson.loads(record_bytes)
    assert canonical(decoded.as_dict()) == data


def test_encoding_sorts_keys_has_no_whitespace_and_keeps_utf8() -> None:
    data = canonical({"b": 1, "a": {"d": "é", "c": [1, 2]}})
    assert data == '{"a":{"c":[1,2],"d":"é"},"b":1}'.encode()


def test_key_order_of_the_input_does_not_change_the_bytes() -> None:
    one = encode_record({"decision_id": "x", "a": 1, "b": {"y": 1, "x": 2}})[1]
    two = encode_record({"b": {"x": 2, "y": 1}, "a": 1, "decision_id": "x"})[1]
    assert one == two


def test_non_finite_floats_are_stored_as_null() -> None:
    data = encode_record({"decision_id": "x", "score": math.nan, "limit": math.inf})[1]
    assert orjson.loads(data) == {"decision_id": "x", "score": None, "limit": None}


class Colour(enum.IntEnum):
    RED = 1


@dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (object(), "object"),
        (datetime.datetime(2026, 1, 1), "datetime"),
        (Point(1), "Point"),
        ({1: "integer key"}, "str"),
        (b"raw bytes", "bytes"),
    ],
)
def test_values_without_a_canonical_form_raise_encoding_error(value: object, fragment: str) -> None:
    with pytest.raises(EncodingError, match=fragment):
        encode_record({"decision_id": "x", "value": value})


def test_integers_beyond_64_bits_are_logged_as_their_decimal_text() -> None:
    """A count a caller can inflate must never make its decisions unloggable."""
    record = {"decision_id": "x", "count": 2**64, "window": [-(2**63) - 1, 7, True],
              "nested": {"max": 2**64 - 1, "min": -(2**63)}}
    decoded = orjson.loads(encode_record(record)[1])
    assert decoded["count"] == str(2**64)
    assert decoded["window"] == [str(-(2**63) - 1), 7, True]
    assert decoded["nested"] == {"max": 2**64 - 1, "min": -(2**63)}


def test_enums_are_encoded_by_value_so_records_should_carry_names() -> None:
    data = encode_record({"decision_id": "x", "action": Action.BLOCK, "colour": Colour.RED})[1]
    assert orjson.loads(data) == {"decision_id": "x", "action": 4, "colour": 1}
    named = encode_record({"decision_id": "x", "action": Action.BLOCK.name})[1]
    assert orjson.loads(named)["action"] == "BLOCK"


@pytest.mark.parametrize(
    "record",
    [{}, {"decision_id": ""}, {"decision_id": 5}, {"decision_id": None}, {"decision_id": "x" * 300}],
)
def test_records_need_a_usable_decision_id(record: dict[str, object]) -> None:
    with pytest.raises(EncodingError, match="decision_id"):
        encode_record(record)


def test_records_must_be_dicts() -> None:
    with pytest.raises(EncodingError, match="dict"):
        encode_record([("decision_id", "x")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[1,2]", "exactly the keys"),
        (b'{"logged_at":"t","prev":"' + b"0" * 64 + b'","record":{},"seq":0,"x":1}', "exactly"),
        (b'{"logged_at":"t","prev":"' + b"0" * 64 + b'","record":{},"seq":-1}', "seq"),
        (b'{"logged_at":"t","prev":"' + b"0" * 64 + b'","record":{},"seq":true}', "seq"),
        (b'{"logged_at":"t","prev":"' + b"0" * 64 + b'","record":[],"seq":0}', "record"),
        (b'{"logged_at":"t","prev":"' + b"0" * 63 + b'","record":{},"seq":0}', "prev"),
        (b'{"logged_at":"t","prev":"' + b"A" * 64 + b'","record":{},"seq":0}', "prev"),
        (b'{"logged_at":1,"prev":"' + b"0" * 64 + b'","record":{},"seq":0}', "logged_at"),
        (b'{"seq":0,"logged_at":"t","prev":"' + b"0" * 64 + b'","record":{}}', "canonical"),
        (b'{"logged_at":"t", "prev":"' + b"0" * 64 + b'","record":{},"seq":0}', "canonical"),
        (b'{"logged_at":"t","prev":"' + b"0" * 64 + b'","record":{"a":1.0e0},"seq":0}', "canonical"),
    ],
)
def test_decoding_refuses_anything_but_the_canonical_form(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedEntryError, match=reason):
        decode_entry(data)


def test_genesis_prev_and_timestamps_have_fixed_shapes() -> None:
    assert GENESIS_PREV == "0" * 64
    assert format_timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000Z"


def test_timestamps_in_the_same_second_and_across_seconds_are_formatted_alike() -> None:
    base = 1_700_000_000_000_000_000
    for ns in (base + 999_999_999, base + 1_000_000_000, base + 5_000, base + 1_000_000_000 + 1):
        seconds, rest = divmod(ns, 1_000_000_000)
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        moment = moment.replace(microsecond=rest // 1000)
        assert format_timestamp(ns) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
