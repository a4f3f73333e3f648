"""Evaluate correlation rules as their referenced rules match, event by event.

Each correlation keeps, per group-by value, a window of the matches in the
``CorrelationState`` (one member per matching event) and, where the condition
only needs distinct values or rules, a second window of just those, so checking
an ``event_count``, ``value_count`` or ``temporal`` condition costs the same
however busy the group is. When the condition holds the correlation fires with
the events in the window, and the windows are cleared so the same events do not
raise the same alert again.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Generator, Mapping
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaRuleReference,
)

from atlasgate.sigma.matchers import as_number
from atlasgate.sigma.rules import CompiledCorrelation
from atlasgate.sigma.state import AsyncCorrelationState, CorrelationState

_OPS = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}
_NUMERIC = frozenset({"value_sum", "value_avg", "value_median", "value_percentile"})
_SEP = "\x1e"  # between the parts of a member
_IDS = "\x1f"  # between event ids


def _group_value(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def group_values(
    correlation: CompiledCorrelation, rule_key: str, event: Mapping[str, Any]
) -> dict[str, Any]:
    return {g: event.get(correlation.field_for(rule_key, g)) for g in correlation.group_by}


# A request to the correlation state: (method name, *arguments).
Step = tuple[Any, ...]
Steps = Generator[Step, Any, tuple[str, ...] | None]


def observe(
    correlation: CompiledCorrelation,
    rule_key: str,
    event: Mapping[str, Any],
    event_ids: tuple[str, ...],
    group: dict[str, Any],
    at: float,
) -> Steps:
    """Record one match of ``rule_key``; return the window's event ids if the correlation fires.

    The logic does no I/O: it yields each state operation and receives its result,
    so one implementation serves a synchronous store (``run``) and an asynchronous,
    shared one (``run_async``).
    """
    kind = correlation.type
    value = ""
    if kind == "value_count" or kind in _NUMERIC:
        raw = event.get(correlation.field_for(rule_key, correlation.value_field or ""))
        if kind == "value_count":
            if raw is None:
                return None
            value = json.dumps(_group_value(raw), default=str)
        else:
            number = as_number(raw)
            if number is None:
                return None
            value = repr(number)
    key = "sigma" + _SEP + correlation.key + _SEP + json.dumps(
        [_group_value(group[g]) for g in correlation.group_by], default=str)
    span = correlation.timespan
    since = at - span
    member = _SEP.join((os.urandom(6).hex(), rule_key, _IDS.join(event_ids), value))
    yield ("add", key, at, member, span)
    aux = key + _SEP + "distinct"

    if kind == "event_count":
        holds = _compare(correlation, (yield ("count", key, since)))
    elif kind == "value_count":
        yield ("add", aux, at, value, span)
        holds = _compare(correlation, (yield ("count", aux, since)))
    elif kind == "temporal":
        yield ("add", aux, at, rule_key, span)
        seen = {m for _, m in (yield ("entries", aux, since))}
        holds = _temporal(correlation, seen)
    elif kind == "temporal_ordered":
        order = [m.split(_SEP, 2)[1] for _, m in (yield ("entries", key, since))]
        holds = _ordered(correlation, order)
    else:
        values = [float(m.rsplit(_SEP, 1)[1]) for _, m in (yield ("entries", key, since))]
        holds = _compare(correlation, _aggregate(kind, values, correlation.percentile))
    if not holds:
        return None
    fired: dict[str, None] = {}
    for _, m in (yield ("entries", key, since)):
        ids = m.split(_SEP, 3)[2]
        fired.update(dict.fromkeys(i for i in ids.split(_IDS) if i))
    yield ("clear", key)
    yield ("clear", aux)
    return tuple(fired)


def run(steps: Steps, state: CorrelationState) -> tuple[str, ...] | None:
    """Drive ``observe`` against a synchronous store."""
    try:
        step = next(steps)
        while True:
            step = steps.send(getattr(state, step[0])(*step[1:]))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(steps: Steps, state: AsyncCorrelationState) -> tuple[str, ...] | None:
    """Drive ``observe`` against an asynchronous (shared) store."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await getattr(state, step[0])(*step[1:]))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _compare(correlation: CompiledCorrelation, measure: float) -> bool:
    op = _OPS[correlation.op or "gte"]
    return op(measure, correlation.threshold if correlation.threshold is not None else 1)


def _aggregate(kind: str, values: list[float], percentile: int | None) -> float:
    if kind == "value_sum":
        return sum(values)
    if kind == "value_avg":
        return statistics.fmean(values)
    if kind == "value_median":
        return statistics.median(values)
    ordered = sorted(values)
    rank = (len(ordered) - 1) * (percentile if percentile is not None else 50) / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _temporal(correlation: CompiledCorrelation, seen: set[str]) -> bool:
    if correlation.extended is not None:
        return _extended(correlation.extended, seen, correlation)
    return all(r in seen for r in correlation.rules)


def _ordered(correlation: CompiledCorrelation, order: list[str]) -> bool:
    if correlation.extended is not None:
        return _extended(correlation.extended, set(order), correlation)
    wanted = correlation.rules
    position = 0
    for rule_key in order:
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
