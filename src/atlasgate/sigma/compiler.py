"""Compile a pySigma condition tree into one Python predicate over an event.

The event is a flat mapping of dotted field names (the gateway's ``Event``).
A field holding a list matches when any element matches. A condition on a field
the event lacks is false, and its negation true, as Sigma defines it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from atlasgate.sigma.matchers import as_text, keyword_predicate, value_predicate

# A compiled condition: (event, keyword-text cache) -> matched. The cache is a
# one-element list the engine creates per event, filled on first keyword use.
Check = Callable[[Mapping[str, Any], list[str | None]], bool]

# Windowed features: a rule with a window reads ``<field>_<window>`` when present.
WINDOWED_FIELDS = frozenset({
    "api.request_count", "api.request_rate", "api.input_similarity_score",
    "api.distinct_inputs",
})


class Compiler:
    """Compiles conditions of one rule; ``window_suffix`` selects windowed fields."""

    def __init__(self, window_suffix: str | None = None) -> None:
        self.window_suffix = window_suffix

    def getter(self, name: str) -> Callable[[Mapping[str, Any]], Any]:
        if self.window_suffix and name in WINDOWED_FIELDS:
            windowed = f"{name}_{self.window_suffix}"

            def get_windowed(ev: Mapping[str, Any]) -> Any:
                v = ev.get(windowed)
                return ev.get(name) if v is None else v

            return get_windowed
        return lambda ev: ev.get(name)

    def compile(self, node: Any) -> Check:
        if isinstance(node, ConditionAND):
            return _all([self.compile(a) for a in node.args])
        if isinstance(node, ConditionOR):
            return _any([self.compile(a) for a in node.args])
        if isinstance(node, ConditionNOT):
            inner = self.compile(node.args[0])
            return lambda ev, kw: not inner(ev, kw)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self._field(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return _keyword(node.value)
        if node is None:
            return lambda ev, kw: False
        raise TypeError(f"unexpected condition node {type(node).__name__}")

    def _field(self, name: str, value: Any) -> Check:
        windowed = self.window_suffix and name in WINDOWED_FIELDS
        get = self.getter(name)
        if isinstance(value, SigmaNull):
            return lambda ev, kw: get(ev) in (None, [])
        if isinstance(value, SigmaExists):
            if value.exists:
                return lambda ev, kw: get(ev) is not None
            return lambda ev, kw: get(ev) is None
        if isinstance(value, SigmaFieldReference):
            return _field_reference(get, self.getter(value.field), value)
        pred = value_predicate(value)
        if windowed:
            def check_windowed(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
                v = get(ev)
                if v is None:
                    return False
                if type(v) is list:
                    return any(x is not None and pred(x) for x in v)
                return pred(v)

            return check_windowed

        def check(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
            v = ev.get(name)
            if v is None:
                return False
            if type(v) is list:
                return any(x is not None and pred(x) for x in v)
            return pred(v)

        return check


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda ev, kw: a(ev, kw) and b(ev, kw)

    def check(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
        for c in checks:  # noqa: SIM110 - a plain loop is cheaper than all() over a generator
            if not c(ev, kw):
                return False
        return True

    return check


def _any(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda ev, kw: a(ev, kw) or b(ev, kw)

    def check(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
        for c in checks:  # noqa: SIM110 - a plain loop is cheaper than any() over a generator
            if c(ev, kw):
                return True
        return False

    return check


def _field_reference(
    get: Callable[[Mapping[str, Any]], Any],
    get_other: Callable[[Mapping[str, Any]], Any],
    ref: SigmaFieldReference,
) -> Check:
    starts, ends = ref.starts_with, ref.ends_with

    def compare(a: str, b: str) -> bool:
        if starts and ends:
            return b in a
        if starts:
            return a.startswith(b)
        if ends:
            return a.endswith(b)
        return a == b

    def check(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
        v, other = get(ev), get_other(ev)
        if v is None or other is None:
            return False
        return compare(as_text(v).lower(), as_text(other).lower())

    return check


def event_text(ev: Mapping[str, Any]) -> str:
    """The text keywords search: every non-null value, one per line."""
    parts: list[str] = []
    for v in ev.values():
        if v is None:
            continue
        if type(v) is list:
            parts.extend(as_text(x) for x in v if x is not None)
        else:
            parts.append(as_text(v))
    return "\n".join(parts)


def _keyword(value: Any) -> Check:
    pred = keyword_predicate(value)

    def check(ev: Mapping[str, Any], kw: list[str | None]) -> bool:
        text = kw[0]
        if text is None:
            text = kw[0] = event_text(ev)
        return pred(text)

    return check


def required_fields(node: Any) -> frozenset[str]:
    """Fields every event matching ``node`` must carry (used to skip rules cheaply)."""
    if isinstance(node, ConditionAND):
        return frozenset().union(*(required_fields(a) for a in node.args))
    if isinstance(node, ConditionOR):
        sets = [required_fields(a) for a in node.args]
        return frozenset.intersection(*sets) if sets else frozenset()
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if isinstance(value, SigmaNull) or (isinstance(value, SigmaExists) and not value.exists):
            return frozenset()
        if isinstance(value, SigmaFieldReference):
            return frozenset({node.field, value.field})
        return frozenset({node.field})
    return frozenset()


def referenced_fields(nodes: Iterable[Any]) -> set[str]:
    found: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ConditionFieldEqualsValueExpression):
            found.add(node.field)
            if isinstance(node.value, SigmaFieldReference):
                found.add(node.value.field)
        stack.extend(getattr(node, "args", []) or [])
    return found
