"""What a CEL condition reads, found once at load time, so evaluation converts only that.

Converting an Event field from Python into CEL costs about a microsecond; a rule
set that reads ten fields should not pay for the fifty an Event carries. A rule
guarded by ``api.method == "predict" && …`` cannot match a chat request, so
such rules are skipped by method before any conversion happens.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_CHAIN = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
_GUARD_EQ = re.compile(r'^\s*api\.method\s*==\s*"([^"\\]+)"\s*(?:&&|$)')
_GUARD_IN = re.compile(r'^\s*api\.method\s+in\s+\[([^\]]*)\]\s*(?:&&|$)')
_LIST_ITEM = re.compile(r'^\s*"([^"\\]+)"\s*$')


def field_chains(condition: str, roots: tuple[str, ...]) -> tuple[str, ...]:
    """Dotted names the condition reads that start at a variable (``api.request_count``)."""
    code = _STRING.sub('""', condition)
    found: dict[str, None] = {}
    for match in _CHAIN.finditer(code):
        chain = match.group(1)
        if chain.split(".", 1)[0] in roots:
            found[chain] = None
    return tuple(found)


def method_guard(condition: str) -> frozenset[str] | None:
    """The ``api.method`` values a condition is limited to, when a leading guard proves it.

    Only a guard joined by ``&&`` to a rest with no top-level ``||`` or ``?:`` limits
    the whole condition; anything else returns None (the rule runs for every method).
    """
    match = _GUARD_EQ.match(condition)
    if match:
        methods = frozenset({match.group(1)})
    else:
        match = _GUARD_IN.match(condition)
        if match is None:
            return None
        items = [_LIST_ITEM.match(part) for part in match.group(1).split(",")]
        if not items or any(item is None for item in items):
            return None
        methods = frozenset(item.group(1) for item in items if item is not None)
    if _has_top_level(condition[match.end():], ("||", "?")):
        return None
    return methods


def _has_top_level(code: str, operators: tuple[str, ...]) -> bool:
    code = _STRING.sub('""', code)
    depth = 0
    for index, char in enumerate(code):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and any(code.startswith(op, index) for op in operators):
            return True
    return False
