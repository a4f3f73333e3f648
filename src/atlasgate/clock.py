"""UTC timestamps as text, for the many records stamped within the same second.

Building a ``datetime`` to format a time costs more than most of what a request
does with it; the text up to the second is kept, so only the fraction is formatted
per call.
"""

from __future__ import annotations

from datetime import UTC, datetime

_last_second: tuple[int, str] = (-1, "")


def utc_second(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC for whole seconds since the epoch."""
    global _last_second
    cached, text = _last_second
    if seconds != cached:
        text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (seconds, text)
    return text


def iso_millis(now: float) -> str:
    """ISO 8601 UTC to the millisecond (``2026-11-26T03:39:07.123+00:00``), as Events carry."""
    millis = int(now * 1000)
    return f"{utc_second(millis // 1000)}.{millis % 1000:03d}+00:00"
