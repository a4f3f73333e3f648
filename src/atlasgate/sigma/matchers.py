"""Turn one Sigma value (after pySigma applied its modifiers) into a predicate.

Each predicate takes one scalar event value and answers whether it matches. The
work of reading the rule (wildcards, case folding, regex compilation, CIDR
parsing) happens here, once, at load time.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import re2
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

Predicate = Callable[[Any], bool]


class UnsupportedValue(ValueError):
    """A value type the engine cannot evaluate (e.g. a backend-only query expression)."""


def as_text(value: Any) -> str:
    """How a non-string event value reads when compared with a string pattern."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if not (isinstance(value, float) and math.isnan(value)) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def string_predicate(value: SigmaString, cased: bool = False) -> Predicate:
    """Wildcard string match, case-insensitive unless ``cased``."""
    parts = value.s
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise UnsupportedValue(f"unresolved placeholder in '{value}': configure its values")
    fold: Callable[[str], str] = (lambda s: s) if cased else str.lower
    many = SpecialChars.WILDCARD_MULTI
    texts = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if isinstance(p, SpecialChars)]

    if not specials:
        literal = fold("".join(texts))
        return lambda v: fold(as_text(v)) == literal
    if all(s is many for s in specials):
        if len(parts) == 1:
            return lambda v: True
        if len(parts) == 2 and parts[1] is many:
            prefix = fold(parts[0])  # type: ignore[arg-type]
            return lambda v: fold(as_text(v)).startswith(prefix)
        if len(parts) == 2 and parts[0] is many:
            suffix = fold(parts[1])  # type: ignore[arg-type]
            return lambda v: fold(as_text(v)).endswith(suffix)
        if len(parts) == 3 and parts[0] is many and parts[2] is many:
            needle = fold(parts[1])  # type: ignore[arg-type]
            return lambda v: needle in fold(as_text(v))
    pattern = "".join(
        ".*" if p is many else "." if isinstance(p, SpecialChars) else re.escape(p)
        for p in parts
    )
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    fullmatch = re.compile(pattern, flags).fullmatch
    return lambda v: fullmatch(as_text(v)) is not None


_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def regex_predicate(value: SigmaRegularExpression) -> Predicate:
    """``|re``: unanchored search with RE2, so a rule cannot make matching exponential."""
    flags = "".join(sorted(_RE_FLAGS[f] for f in value.flags))
    pattern = (f"(?{flags})" if flags else "") + str(value.regexp)
    search = re2.compile(pattern).search
    return lambda v: search(as_text(v)) is not None


@functools.lru_cache(maxsize=8192)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def cidr_predicate(value: SigmaCIDRExpression) -> Predicate:
    network = value.network

    def match(v: Any) -> bool:
        address = _address(as_text(v))
        return address is not None and address in network

    return match


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def compare_predicate(value: SigmaCompareExpression) -> Predicate:
    op = _COMPARE[value.op]
    bound = value.number.number

    def match(v: Any) -> bool:
        number = as_number(v)
        return number is not None and op(number, bound)

    return match


def number_predicate(value: SigmaNumber) -> Predicate:
    target = value.number

    def match(v: Any) -> bool:
        number = as_number(v)
        return number is not None and number == target

    return match


def bool_predicate(value: SigmaBool) -> Predicate:
    target = value.boolean
    text = "true" if target else "false"
    return lambda v: v is target or (isinstance(v, str) and v.lower() == text)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 string or Unix seconds as an aware UTC datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


_TIME_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda d: d.minute,
    TimestampPart.HOUR: lambda d: d.hour,
    TimestampPart.DAY: lambda d: d.day,
    TimestampPart.WEEK: lambda d: int(d.strftime("%W")),
    TimestampPart.MONTH: lambda d: d.month,
    TimestampPart.YEAR: lambda d: d.year,
}


def timestamp_part_predicate(value: SigmaTimestampPart) -> Predicate:
    part = _TIME_PARTS[value.timestamp_part]
    target = value.number

    def match(v: Any) -> bool:
        moment = parse_timestamp(v)
        return moment is not None and part(moment) == target

    return match


def value_predicate(value: SigmaType) -> Predicate:
    """The predicate for a value that is matched against one field's scalar value."""
    if isinstance(value, SigmaExpansion):
        predicates = [value_predicate(v) for v in value.values]
        return lambda v: any(p(v) for p in predicates)
    if isinstance(value, SigmaCasedString):
        return string_predicate(value, cased=True)
    if isinstance(value, SigmaString):
        return string_predicate(value)
    if isinstance(value, SigmaRegularExpression):
        return regex_predicate(value)
    if isinstance(value, SigmaCIDRExpression):
        return cidr_predicate(value)
    if isinstance(value, SigmaCompareExpression):
        return compare_predicate(value)
    if isinstance(value, SigmaTimestampPart):
        return timestamp_part_predicate(value)
    if isinstance(value, SigmaNumber):
        return number_predicate(value)
    if isinstance(value, SigmaBool):
        return bool_predicate(value)
    raise UnsupportedValue(f"value type {type(value).__name__} cannot be evaluated on events")


def keyword_predicate(value: SigmaType) -> Predicate:
    """A keyword (field-less value) matches anywhere in the event's text."""
    if isinstance(value, SigmaExpansion):
        predicates = [keyword_predicate(v) for v in value.values]
        return lambda text: any(p(text) for p in predicates)
    if isinstance(value, SigmaString):
        contained = value
        if not contained.startswith(SpecialChars.WILDCARD_MULTI):
            contained = SpecialChars.WILDCARD_MULTI + contained
        if not contained.endswith(SpecialChars.WILDCARD_MULTI):
            contained = contained + SpecialChars.WILDCARD_MULTI
        return string_predicate(contained, cased=isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaNumber):
        needle = str(value.number)
        return lambda text: needle in text
    if isinstance(value, SigmaRegularExpression):
        return regex_predicate(value)
    raise UnsupportedValue(f"keyword of type {type(value).__name__} cannot be evaluated")
