"""Timestamps as text: the cached second must never leak into another second."""

from __future__ import annotations

from datetime import UTC, datetime

from atlasgate.audit.encoding import format_timestamp
from atlasgate.clock import iso_millis


def _reference_millis(now: float) -> str:
    millis = int(now * 1000)
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")


def test_event_times_match_datetimes_isoformat_across_second_boundaries() -> None:
    times = [1_795_630_036.0, 1_795_630_036.999, 1_795_630_037.0005, 1_795_630_036.5,
             0.0, 1_795_630_099.25, 4_102_444_799.999]
    for now in times:
        assert iso_millis(now) == _reference_millis(now), now


def test_log_timestamps_are_rfc3339_utc_with_microseconds_in_any_call_order() -> None:
    ns = [1_795_630_036_123_456_789, 1_795_630_037_000_000_000, 1_795_630_036_999_999_999]
    for value in ns:
        expected = datetime.fromtimestamp(value // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert format_timestamp(value) == f"{expected}.{value % 10**9 // 1000:06d}Z"
    assert format_timestamp(1_795_630_036_000_001_000) == "2026-11-25T18:07:16.000001Z"
