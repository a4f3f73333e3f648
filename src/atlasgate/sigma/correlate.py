"""Evaluate correlation rules as their referenced rules match, event by event.

Each correlation keeps one window per group-by value in the ``CorrelationState``.
A window is checked every time a referenced rule matches; when the condition
holds the correlation fires with the events in the window, and the window is
cleared so the same events do not raise the same alert again.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Mapping
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaRuleReference,
)

from atlasgate.sigma.matchers import as_number
from atlasgate.sigma.rules import CompiledCorrelation
from atlasgate.sigma.state import CorrelationState

_OPS = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}


def _group_value(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def group_values(
    correlation: CompiledCorrelation, rule_key: str, event: Mapping[str, Any]
) -> dict[str, Any]:
    return {g: event.get(correlation.field_for(rule_key, g)) for g in correlation.group_by}


def observe(
    correlation: CompiledCorrelation,
    state: CorrelationState,
    rule_key: str,
    event: Mapping[str, Any],
    event_ids: tuple[str, ...],
    group: dict[str, Any],
    at: float,
) -> tuple[str, ...] | None:
    """Record one match of ``rule_key``; return the window's event ids if the correlation fires."""
    kind = correlation.type
    value: Any = None
    if kind in ("value_count", "value_sum", "value_avg", "value_median", "value_percentile"):
        value = event.get(correlation.field_for(rule_key, correlation.value_field or ""))
        if value is None:
            return None
        if kind != "value_count":
            value = as_number(value)
            if value is None:
                return None
        else:
            value = _group_value(value)
    key = "sigma:" + correlation.key + ":" + json.dumps(
        [_group_value(group[g]) for g in correlation.group_by], default=str)
    ids = list(event_ids) or [uuid.uuid4().hex]
    member = json.dumps([ids, rule_key, value, uuid.uuid4().hex[:8]], default=str)
    state.add(key, at, member, correlation.timespan)
    entries = [(ts, json.loads(m)) for ts, m in state.entries(key, at - correlation.timespan)]
    if not _holds(correlation, entries):
        return None
    state.clear(key)
    fired: list[str] = []
    for _, (member_ids, _rule, _value, _nonce) in entries:
        for i in member_ids:
            if i not in fired:
                fired.append(i)
    return tuple(fired)


def _holds(correlation: CompiledCorrelation, entries: list[tuple[float, list[Any]]]) -> bool:
    kind = correlation.type
    if kind in ("temporal", "temporal_ordered"):
        return _temporal(correlation, entries)
    values = [member[2] for _, member in entries]
    measure: float
    if kind == "event_count":
        measure = len(entries)
    elif kind == "value_count":
        measure = len({json.dumps(v, default=str) for v in values})
    elif kind == "value_sum":
        measure = sum(values)
    elif kind == "value_avg":
        measure = statistics.fmean(values)
    elif kind == "value_median":
        measure = statistics.median(values)
    elif kind == "value_percentile":
        measure = _percentile(values, correlation.percentile or 50)
    else:
        return False
    op = _OPS[correlation.op or "gte"]
    return op(measure, correlation.threshold if correlation.threshold is not None else 1)


def _percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _temporal(correlation: CompiledCorrelation, entries: list[tuple[float, list[Any]]]) -> bool:
    seen_order = [member[1] for _, member in entries]
    seen = set(seen_order)
    if correlation.extended is not None:
        return _extended(correlation.extended, seen, correlation)
    if correlation.type == "temporal":
        return all(r in seen for r in correlation.rules)
    wanted = correlation.rules
    position = 0
    for rule_key in seen_order:
        if rule_key == wanted[position]:
            position += 1
            if position == len(wanted):
                return True
    return False


def _extended(node: Any, seen: set[str], correlation: CompiledCorrelation) -> bool:
    if isinstance(node, SigmaRuleReference):
        return correlation.references.get(node.reference, node.reference) in seen
    if isinstance(node, CorrelationConditionAND):
        return all(_extended(a, seen, correlation) for a in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_extended(a, seen, correlation) for a in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _extended(node.args[0], seen, correlation)
    return False
