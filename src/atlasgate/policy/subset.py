"""The comparison-and-logic core of CEL, evaluated in Python on an Event's flat fields.

Almost every policy condition is a few comparisons of Event fields with literals,
joined by ``&&``, ``||`` and ``!``. Handing such a condition to the CEL library
means converting the fields it reads into CEL values first, which costs several
times more than evaluating it. A condition inside this subset is therefore also
compiled into Python closures that read the flat fields directly; anything outside
it (function and method calls, arithmetic, indexing, macros, ``?:``) has no such
closure and runs on CEL alone.

CEL stays the reference. Where a value would take the two apart (a type that CEL
may treat differently, a field that holds a map) the closure raises ``Fallback``
and the rule runs on CEL for that Event. A field that is absent evaluates to
``ABSENT`` (CEL's "no such key", without the cost of an exception), and a condition
that ends ABSENT does not apply. ``&&`` and ``||`` absorb an absent side the way CEL
does (``false && x`` is false whatever ``x`` is). A differential test holds the two
to the same answers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Flat = Mapping[str, Any]
Evaluator = Callable[[Flat], Any]

_INT64 = 2**63
_FLOAT_EXACT = 2**53


class _Absent:
    """The value of a field the Event does not have (CEL's "no such key")."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


class Fallback(Exception):
    """A value this evaluator does not decide exactly as CEL would: ask CEL."""


class _Unsupported(Exception):
    """The condition uses CEL beyond this subset."""


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)(?![\w.])"
    r"|(?P<string>\"[^\"\\\n]*\"|'[^'\\\n]*')"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\],.\-])"
    r")"
)
_RELATIONS = {"==", "!=", "<", "<=", ">", ">=", "in"}
_LITERALS = {"true": True, "false": False, "null": None}
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if",
             "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}


def compile_subset(condition: str) -> Evaluator | None:
    """Closures for ``condition`` if it lies inside the subset, else None."""
    try:
        parser = _Parser(_tokens(condition))
        node = parser.expression()
        if parser.peek() is not None:
            raise _Unsupported
    except (_Unsupported, RecursionError):
        return None
    evaluate = _boolean(node)
    evaluate.names = frozenset(parser.names)  # type: ignore[attr-defined]
    evaluate.guard = _guard(node)  # type: ignore[attr-defined]
    return evaluate


def names_read(evaluator: Evaluator) -> frozenset[str]:
    """The dotted field names a compiled condition reads."""
    return evaluator.names  # type: ignore[attr-defined,no-any-return]


_SHADOWS: dict[tuple[str, ...], frozenset[str]] = {}


def shadowed(flat: Flat) -> frozenset[str]:
    """Names an Event lacks as fields but CEL still finds: maps and ``@`` fields.

    CEL reads the nested form of an Event, where ``y`` is a map when ``y.z`` is a
    field and ``timestamp`` is ``@timestamp``. A condition that ends ABSENT because it
    read such a name must go to CEL. Events of one route share one set of field names,
    so the answer is kept per set of names.
    """
    key = tuple(flat)
    found = _SHADOWS.get(key)
    if found is None:
        names: set[str] = set()
        for field in key:
            parts = field.lstrip("@").split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts)))
            if field.startswith("@"):
                names.add(".".join(parts))
        found = frozenset(names)
        if len(_SHADOWS) < 1024:
            _SHADOWS[key] = found
    return found


Guard = tuple[str, str, int | float]


def guard_of(evaluator: Evaluator) -> Guard | None:
    """A ``field op number`` the whole condition is ``&&``-joined to, as (field, op, number).

    When that comparison is false the condition is false, whatever the other sides
    hold: the engine's index (``policy.index``) uses it to skip the rule. ``op`` is
    one of ``<``, ``<=``, ``>``, ``>=`` with the field on the left, and the number
    compares with any int or double within 2**53 exactly as CEL does.
    """
    return evaluator.guard  # type: ignore[attr-defined,no-any-return]


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _guard(node: Evaluator) -> Guard | None:
    """The first top-level conjunct that is a guard, preferring a lower bound (``> n``):
    clean traffic sits below the thresholds rules watch, so those guards are false."""
    guards = [g for g in (getattr(c, "guard", None) for c in _conjuncts(node)) if g is not None]
    lower = [g for g in guards if g[1] in (">", ">=")]
    return (lower or guards or [None])[0]


def _conjuncts(node: Evaluator) -> list[Evaluator]:
    """The sides of a top-level ``&&`` chain, parenthesised chains included."""
    inner = getattr(node, "conjuncts", None)
    return [node] if inner is None else [c for side in inner for c in _conjuncts(side)]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    end = len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _Unsupported
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over CEL's precedence: ``||`` < ``&&`` < relations < unary."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _Unsupported
        self.index += 1
        return token

    def accept(self, op: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == op and token[0] in ("op", "name"):
            self.index += 1
            return True
        return False

    def expression(self) -> Evaluator:
        operands = [self.conjunction()]
        while self.accept("||"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else _any(tuple(operands))

    def conjunction(self) -> Evaluator:
        operands = [self.relation()]
        while self.accept("&&"):
            operands.append(self.relation())
        return operands[0] if len(operands) == 1 else _all(tuple(operands))

    def relation(self) -> Evaluator:
        left = self.unary()
        token = self.peek()
        if token is None or token[1] not in _RELATIONS:
            return left
        self.take()
        right = self.unary()
        following = self.peek()
        if following is not None and following[1] in _RELATIONS:
            raise _Unsupported  # a < b < c: legal CEL, rare, left to CEL
        return _relation(token[1], left, right)

    def unary(self) -> Evaluator:
        if self.accept("!"):
            return _not(self.unary())
        if self.accept("-"):
            kind, text = self.take()
            if kind != "number":
                raise _Unsupported
            return _constant(-_number(text))
        if self.accept("("):
            node = self.expression()
            if not self.accept(")"):
                raise _Unsupported
            return node
        if self.accept("["):
            return self.list_literal()
        kind, text = self.take()
        if kind == "number":
            return _constant(_number(text))
        if kind == "string":
            return _constant(text[1:-1])
        if kind == "name":
            if text in _LITERALS:
                return _constant(_LITERALS[text])
            return self.path(text)
        raise _Unsupported

    def path(self, first: str) -> Evaluator:
        if first in _RESERVED:
            raise _Unsupported
        parts = [first]
        while self.accept("."):
            kind, text = self.take()
            if kind != "name" or text in _LITERALS or text in _RESERVED:
                raise _Unsupported
            parts.append(text)
        token = self.peek()
        if token is not None and token[1] in ("(", "["):
            raise _Unsupported  # a call, a method or an index
        self.names.add(".".join(parts))
        return _field(tuple(parts))

    def list_literal(self) -> Evaluator:
        items: list[Any] = []
        if not self.accept("]"):
            while True:
                item = self.unary()
                value = getattr(item, "constant", _NO_CONSTANT)
                if value is _NO_CONSTANT:
                    raise _Unsupported  # only lists of literals
                items.append(value)
                if self.accept("]"):
                    break
                if not self.accept(","):
                    raise _Unsupported
        return _constant(tuple(items))


_NO_CONSTANT = object()


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    value = int(text)
    if value >= _INT64:
        raise _Unsupported
    return value


def _constant(value: Any) -> Evaluator:
    def evaluate(flat: Flat) -> Any:
        return value

    evaluate.constant = value  # type: ignore[attr-defined]
    return evaluate


def _field(parts: tuple[str, ...]) -> Evaluator:
    name = ".".join(parts)
    prefixes = tuple(".".join(parts[:i]) for i in range(1, len(parts)))

    def evaluate(flat: Flat) -> Any:
        value = flat.get(name, ABSENT)
        if value is ABSENT:
            for prefix in prefixes:  # a shorter name holding a map: CEL would select into it
                if prefix in flat:
                    raise Fallback
            return ABSENT
        if isinstance(value, dict):
            raise Fallback
        return value

    evaluate.field = name  # type: ignore[attr-defined]
    return evaluate


def _kind(value: Any) -> str:
    """CEL's type family of a Python value; ``other`` is left to CEL."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "bool"
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return "number"
        return "other"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _equal(left: Any, right: Any) -> bool:
    """CEL equality: values of different type families are unequal, never an error."""
    kind = _kind(left)
    other = _kind(right)
    if kind == "other" or other == "other" or (
            kind == other == "number" and not _exact(left, right, ordering=False)):
        raise Fallback
    return kind == other and left == right


def _exact(a: Any, b: Any, ordering: bool = True) -> bool:
    """Whether Python compares these numbers as CEL does: CEL refuses to order NaN and
    compares an int with a double as doubles, which Python does not beyond 2**53."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, float):
            if ordering and x != x:
                return False
            if isinstance(y, int) and not -_FLOAT_EXACT <= y <= _FLOAT_EXACT:
                return False
    return True


def _relation(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    constant = getattr(right, "constant", _NO_CONSTANT)
    if op in ("==", "!=") and type(constant) is str:
        # The common shape, ``api.method == "predict"``.
        negate = op == "!="

        def against_string(flat: Flat) -> Any:
            a = left(flat)
            if isinstance(a, str):
                return (a == constant) is not negate
            if a is ABSENT:
                return a
            if _kind(a) == "other":
                raise Fallback
            return negate

        return against_string
    compare: Callable[[Any, Any], bool] = {
        "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": _equal, "!=": lambda a, b: not _equal(a, b), "in": _contains}[op]
    if op in ("<", "<=", ">", ">=") and _kind(constant) == "number":
        # The common shape, ``field >= 0.9``: only the field's type needs checking.
        def against_number(flat: Flat) -> Any:
            a = left(flat)
            if (isinstance(a, float) or (type(a) is int and -_INT64 <= a < _INT64)) and _exact(a, constant):
                return compare(a, constant)
            if a is ABSENT:
                return a
            raise Fallback

        against_number.guard = _guard_of_relation(left, op, constant)  # type: ignore[attr-defined]
        return against_number
    ordering = op in ("<", "<=", ">", ">=")

    def relate(flat: Flat) -> Any:
        a = left(flat)
        if a is ABSENT:
            return a
        b = right(flat)
        if b is ABSENT:
            return b
        if ordering:
            kind = _kind(a)
            if kind not in ("number", "string") or kind != _kind(b):
                raise Fallback  # CEL raises "no such overload"; let it say so
            if kind == "number" and not _exact(a, b):
                raise Fallback
        return compare(a, b)

    if ordering:  # ``0.9 <= field``: the same guard as ``field >= 0.9``
        relate.guard = _guard_of_relation(  # type: ignore[attr-defined]
            right, _FLIPPED[op], getattr(left, "constant", _NO_CONSTANT))
    if op == "in" and type(constant) is tuple and constant and all(type(c) is str for c in constant):
        # The common shape, ``api.method in ["chat", "completion"]``: a set lookup for a str.
        members = frozenset(constant)

        def in_strings(flat: Flat) -> Any:
            a = left(flat)
            return a in members if type(a) is str else relate(flat)

        return in_strings
    return relate


def _guard_of_relation(side: Evaluator, op: str, constant: Any) -> Guard | None:
    """(field, op, constant) when ``side`` reads a field and the constant is a number
    that CEL and Python compare alike with every int and double within 2**53."""
    name = getattr(side, "field", None)
    if name is None or _kind(constant) != "number" or constant != constant:
        return None
    if isinstance(constant, int) and not -_FLOAT_EXACT <= constant <= _FLOAT_EXACT:
        return None
    return name, op, constant


def _contains(value: Any, items: Any) -> bool:
    if not isinstance(items, tuple | list):
        raise Fallback  # maps and anything else: CEL's rules
    return any(_equal(value, item) for item in items)


def _truth(value: Any) -> Any:
    if value is True or value is False or value is ABSENT:
        return value
    raise Fallback  # not a bool: CEL reports the error


def _not(operand: Evaluator) -> Evaluator:
    def evaluate(flat: Flat) -> Any:
        value = _truth(operand(flat))
        return value if value is ABSENT else not value

    return evaluate


def _all(operands: tuple[Evaluator, ...]) -> Evaluator:
    """``a && b && …``: false if any side is false, even when another is absent (as in CEL)."""
    return _deciding(operands, False)


def _any(operands: tuple[Evaluator, ...]) -> Evaluator:
    """``a || b || …``: true if any side is true, even when another is absent."""
    return _deciding(operands, True)


def _deciding(operands: tuple[Evaluator, ...], decisive: bool) -> Evaluator:
    """One side equal to ``decisive`` settles it; else ABSENT if a side was, else the other."""
    def evaluate(flat: Flat) -> Any:
        result: Any = not decisive
        for operand in operands:
            value = _truth(operand(flat))
            if value is decisive:
                return decisive
            if value is ABSENT:
                result = ABSENT
        return result

    if not decisive:
        evaluate.conjuncts = operands  # type: ignore[attr-defined]
    return evaluate


def _boolean(node: Evaluator) -> Evaluator:
    """The whole condition must be true, false or ABSENT; anything else is CEL's to report."""
    return lambda flat: _truth(node(flat))
