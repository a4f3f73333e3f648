"""The legacy Sigma dialect that rules pasted from articles are written in.

pySigma 2 rejects or misreads these constructs; AtlasGate accepts each one on
purpose and reports it, so the analyst can move to standard Sigma when ready:

- an ``id`` that is not a UUID becomes the rule's ``name`` (the UUID is derived
  from it, so it stays stable across loads);
- a quoted comparison such as ``'>50'`` becomes a numeric comparison;
- ``timeframe`` inside ``detection`` sets the window of the windowed ``api.*``
  features the rule reads, instead of being a keyword search for "5m";
- ``mitre_atlas.*`` tags map to the nearest ATLAS tactic and technique.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError

from atlasgate.sigma.source import RuleDocument
from atlasgate.sigma.tags import TagMapping, map_tags

_COMPARISON = re.compile(r"\s*(>=|<=|>|<|!=)\s*([-+]?\d+(?:\.\d+)?)\s*")
COMPARISON_MODIFIERS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "!=": "neq"}
_ID_NAMESPACE = uuid.UUID("5b0c3f3e-3d1b-4f57-9a57-6174c6a5a7e1")


def parse_comparison(text: str) -> tuple[str, int | float] | None:
    """``'>50'`` -> ``(">", 50)``; anything else -> None."""
    m = _COMPARISON.fullmatch(text)
    if m is None:
        return None
    number = float(m[2])
    return m[1], int(number) if number.is_integer() and "." not in m[2] else number


def parse_timespan(text: Any) -> int:
    """Seconds in a Sigma timespan such as ``5m``; raises ValueError when invalid."""
    try:
        return SigmaCorrelationTimespan(str(text).strip()).seconds
    except SigmaTimespanError as e:
        raise ValueError(f"invalid timespan {text!r}: use a number and s, m, h, d, w, M or y") from e


def legacy_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, name)


@dataclass
class NormalizedRule:
    """A rule document made acceptable to pySigma, and the liberties taken."""

    data: dict[str, Any]
    key: str  # the id as the author wrote it (a UUID or a legacy name)
    window: int | None = None
    warnings: list[tuple[int, str]] = field(default_factory=list)
    tags: TagMapping = field(default_factory=TagMapping)
    legacy: bool = False


def normalize(doc: RuleDocument) -> NormalizedRule:
    data: dict[str, Any] = copy.deepcopy(doc.data)
    warnings: list[tuple[int, str]] = []
    legacy = False

    raw_id = data.get("id")
    key = str(raw_id) if raw_id is not None else str(data.get("name") or data.get("title") or "")
    if raw_id is not None:
        try:
            uuid.UUID(str(raw_id))
        except ValueError:
            legacy = True
            data.setdefault("name", str(raw_id))
            data["id"] = str(legacy_uuid(str(raw_id)))
            warnings.append((doc.line_of("id"),
                             f"id '{raw_id}' is not a UUID: used as the rule name, "
                             f"with the derived id {data['id']}"))

    window = None
    detection = data.get("detection")
    for where in ("detection", None):
        holder = detection if where else data
        if isinstance(holder, dict) and "timeframe" in holder:
            path = ("detection", "timeframe") if where else ("timeframe",)
            raw = holder.pop("timeframe")
            legacy = True
            try:
                window = parse_timespan(raw)
            except ValueError as e:
                warnings.append((doc.line_of(*path), f"timeframe ignored: {e}"))
                continue
            warnings.append((doc.line_of(*path),
                             f"'timeframe: {raw}' sets the window of the windowed api.* features "
                             f"this rule reads ({window_label(window)}); standard Sigma expresses "
                             "a window with a correlation rule"))

    if isinstance(detection, dict):
        for name in list(detection):
            detection[name] = _spec_modifier_names(detection[name])
        for name, definition in detection.items():
            for path, text in _comparison_strings(definition, ("detection", name)):
                legacy = True
                op, number = parse_comparison(text)  # type: ignore[misc]
                warnings.append((doc.line_of(*path),
                                 f"'{text}' read as a numeric comparison "
                                 f"(standard: |{COMPARISON_MODIFIERS[op]}: {number})"))

    tags = map_tags([str(t) for t in data.get("tags") or [] if t is not None])
    for tag, message in tags.notes:
        index = next((i for i, t in enumerate(data.get("tags") or []) if str(t) == tag), None)
        warnings.append((doc.line_of("tags", index) if index is not None else doc.line, message))
        if tag.lower().startswith("mitre"):
            legacy = True
    return NormalizedRule(data, key, window, warnings, tags, legacy)


def spec_key(key: str) -> str:
    """The specification's ``utf16le`` modifier is pySigma's ``wide``."""
    return "|".join("wide" if m == "utf16le" else m for m in key.split("|"))


def _spec_modifier_names(definition: Any) -> Any:
    if isinstance(definition, dict):
        return {
            (spec_key(key) if isinstance(key, str) else key): value
            for key, value in definition.items()
        }
    if isinstance(definition, list):
        return [_spec_modifier_names(item) for item in definition]
    return definition


def _comparison_strings(definition: Any, path: tuple[Any, ...]):
    """Yield (key path, text) of unmodified values written as quoted comparisons."""
    if isinstance(definition, dict):
        for key, value in definition.items():
            if isinstance(key, str) and "|" in key:
                continue
            values = value if isinstance(value, list) else [value]
            for i, item in enumerate(values):
                if isinstance(item, str) and parse_comparison(item):
                    yield ((*path, key, i) if isinstance(value, list) else (*path, key)), item
    elif isinstance(definition, list):
        for i, item in enumerate(definition):
            if isinstance(item, dict):
                yield from _comparison_strings(item, (*path, i))


def window_label(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
