"""The standard Sigma v2 form of a rule written in the legacy dialect.

``atlasgate sigma lint`` prints it so the analyst can replace the pasted rule, and
the SIEM converters read it (their pySigma cannot read the legacy dialect).
For a rule with a ``timeframe`` and a request-count threshold, a SIEM-portable
pair is added too: the rule's non-windowed selections as a base rule, and an
``event_count`` correlation over them, since a SIEM has no windowed features.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from typing import Any

import yaml

from atlasgate.sigma.compiler import WINDOWED_FIELDS
from atlasgate.sigma.dialect import COMPARISON_MODIFIERS, NormalizedRule, parse_comparison, window_label


def _alternatives(key: Any, value: Any) -> list[tuple[Any, Any]]:
    """(key, value) pairs, OR-ed, that say what a legacy ``key: value`` item says."""
    if not isinstance(key, str) or "|" in key:
        return [(key, value)]
    values = value if isinstance(value, list) else [value]
    groups: dict[str | None, list[Any]] = {}
    for item in values:
        parsed = parse_comparison(item) if isinstance(item, str) else None
        groups.setdefault(parsed[0] if parsed else None, []).append(
            parsed[1] if parsed else item)
    if set(groups) <= {None}:
        return [(key, value)]
    return [
        (key if op is None else f"{key}|{COMPARISON_MODIFIERS[op]}",
         items if isinstance(value, list) and (len(items) > 1 or len(groups) == 1) else items[0])
        for op, items in groups.items()
    ]


def _rewrite_mapping(mapping: dict[Any, Any]) -> dict[Any, Any] | list[dict[Any, Any]]:
    """Modifiers for comparisons; a list mixing operators becomes one mapping per operator."""
    combinations = [dict(c) for c in itertools.product(
        *(_alternatives(k, v) for k, v in mapping.items()))]
    return combinations[0] if len(combinations) == 1 else combinations


def _rewrite_definition(definition: Any) -> Any:
    if isinstance(definition, dict):
        return _rewrite_mapping(definition)
    if isinstance(definition, list):
        out: list[Any] = []
        for item in definition:
            rewritten = _rewrite_definition(item)
            if isinstance(item, dict) and isinstance(rewritten, list):
                out.extend(rewritten)
            else:
                out.append(rewritten)
        return out
    return definition


def _mentions_windowed(definition: Any) -> bool:
    if isinstance(definition, dict):
        return any(str(k).split("|")[0] in WINDOWED_FIELDS for k in definition)
    if isinstance(definition, list):
        return any(_mentions_windowed(d) for d in definition)
    return False


def _count_threshold(detection: dict[str, Any]) -> tuple[str, int | float] | None:
    """The lowest request-count threshold: what an event_count correlation counts to."""
    best: tuple[str, int | float] | None = None
    for definition in detection.values():
        mappings = definition if isinstance(definition, list) else [definition]
        for mapping in mappings:
            if not isinstance(mapping, dict):
                continue
            value = mapping.get("api.request_count")
            for v in value if isinstance(value, list) else [value]:
                parsed = parse_comparison(v) if isinstance(v, str) else None
                if parsed and parsed[0] in (">", ">=") and (best is None or parsed[1] < best[1]):
                    best = (COMPARISON_MODIFIERS[parsed[0]], parsed[1])
    return best


def standard_documents(rule: NormalizedRule) -> list[dict[str, Any]]:
    data = copy.deepcopy(rule.data)
    raw_detection = data.get("detection")
    if isinstance(raw_detection, dict):
        data["detection"] = {k: (_rewrite_definition(v) if k != "condition" else v)
                             for k, v in raw_detection.items()}
    if rule.tags.standard_tags or data.get("tags"):
        data["tags"] = list(rule.tags.standard_tags)
    if rule.window:
        block = dict(data.get("atlasgate") or {})
        block["window"] = window_label(rule.window)
        data["atlasgate"] = block
    documents = [data]
    if rule.window and isinstance(raw_detection, dict):
        documents.extend(_siem_pair(rule, raw_detection))
    return documents


def _siem_pair(rule: NormalizedRule, detection: dict[str, Any]) -> list[dict[str, Any]]:
    threshold = _count_threshold(detection)
    base = {k: _rewrite_definition(v) for k, v in detection.items()
            if k != "condition" and not _mentions_windowed(v)}
    if threshold is None or not base:
        return []
    name = f"{rule.data.get('name') or rule.key}-requests"
    base_rule = {
        "title": f"{rule.data.get('title', rule.key)} (requests)",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "atlasgate:" + name)),
        "name": name,
        "status": rule.data.get("status", "experimental"),
        "logsource": rule.data.get("logsource"),
        "detection": {**base, "condition": " and ".join(base)},
        "level": "informational",
    }
    op, count = threshold
    correlation = {
        "title": rule.data.get("title", rule.key),
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "atlasgate:" + name + ":count")),
        "status": rule.data.get("status", "experimental"),
        "correlation": {
            "type": "event_count",
            "rules": [name],
            "group-by": ["client.key_id", "api.model"],
            "timespan": window_label(rule.window or 0),
            "condition": {op: count},
        },
        "level": rule.data.get("level", "medium"),
        "tags": list(rule.tags.standard_tags),
    }
    return [base_rule, correlation]


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, width=100)
