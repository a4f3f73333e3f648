"""Read events for offline evaluation: the decision log's export, or any JSON lines.

A decision-log export line is ``{"seq", "prev", "logged_at", "record"}`` whose
record (it has a ``decision_id``) holds the request's flat ``event`` (plus its
``response_event``) or an ``alert``; any other JSON object is an event itself,
nested or already flat.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"api": {"method": "x"}}`` -> ``{"api.method": "x"}``; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def event_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The flat event a JSON line stands for."""
    inner = record.get("record")
    if isinstance(inner, Mapping) and "seq" in record:
        record = inner
    if "decision_id" not in record:
        return flatten(record)
    if isinstance(record.get("event"), Mapping):
        fields = flatten(record["event"])
        if isinstance(record.get("response_event"), Mapping):
            fields.update(flatten(record["response_event"]))
        return fields
    if isinstance(record.get("alert"), Mapping):
        return flatten(record["alert"])
    return flatten(record)


def read_events(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line number, flat event, None) or (line number, None, error) per non-blank line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                yield number, None, f"invalid JSON: {e}"
                continue
            if not isinstance(record, dict):
                yield number, None, "each line must be a JSON object"
                continue
            yield number, event_of(record), None
