"""Read events for offline evaluation: JSON lines, nested or already flat."""

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
            yield number, flatten(record), None
