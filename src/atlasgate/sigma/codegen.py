"""Generate one Python function per rule, so evaluating it costs one call.

The condition becomes one boolean expression with the common field tests written
inline (string equality, prefix, suffix, substring, numeric comparison), and every
other test calling the closure ``compiler.Compiler`` builds for it; a tree of
small functions would cost a call per AND/OR node and two per field test. Values
from the rule never enter the source text: they are bound to names in the
function's namespace.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import (
    CompareOperators,
    SigmaCasedString,
    SigmaCompareExpression,
    SigmaString,
    SpecialChars,
)

from atlasgate.sigma.compiler import WINDOWED_FIELDS, Check, Compiler

_OPERATORS = {
    CompareOperators.LT: "<", CompareOperators.LTE: "<=",
    CompareOperators.GT: ">", CompareOperators.GTE: ">=",
}


class _Generator:
    def __init__(self, compiler: Compiler) -> None:
        self.compiler = compiler
        self.namespace: dict[str, Any] = {}
        self.locals = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def expr(self, node: Any) -> str:
        if isinstance(node, ConditionAND | ConditionOR):
            joiner = " and " if isinstance(node, ConditionAND) else " or "
            return "(" + joiner.join(self.expr(a) for a in node.args) + ")"
        if isinstance(node, ConditionNOT):
            return f"(not {self.expr(node.args[0])})"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            inline = self.inline(node.field, node.value)
            if inline is not None:
                return inline
        return f"{self.const(self.compiler.leaf(node))}(ev, kw)"

    def read(self, field: str) -> str:
        """Source of the event value a field test reads (windowed fields first)."""
        plain = f"ev.get({self.const(field)})"
        if self.compiler.window_suffix and field in WINDOWED_FIELDS:
            w = self.local()
            windowed = self.const(f"{field}_{self.compiler.window_suffix}")
            return f"({w} if ({w} := ev.get({windowed})) is not None else {plain})"
        return plain

    def local(self) -> str:
        self.locals += 1
        return f"_v{self.locals}"

    def inline(self, field: str, value: Any) -> str | None:
        """A field test written out, with the compiler's closure for any other value type."""
        test = _string_test(value) if type(value) is SigmaString else None
        numeric = isinstance(value, SigmaCompareExpression) and value.op in _OPERATORS
        if test is None and not numeric:
            return None
        v = self.local()
        slow = self.const(self.compiler.leaf(ConditionFieldEqualsValueExpression(field, value)))
        fallback = f"{slow}(ev, kw)"
        if numeric:
            bound = self.const(value.number.number)
            return (f"({v} {_OPERATORS[value.op]} {bound} "
                    f"if ({v} := {self.read(field)}).__class__ is int "
                    f"or {v}.__class__ is float and {v} == {v} else {fallback})")
        method, literal = test  # type: ignore[misc]
        text = self.const(literal)
        check = {
            "eq": f"{v}.lower() == {text}",
            "startswith": f"{v}.lower().startswith({text})",
            "endswith": f"{v}.lower().endswith({text})",
            "contains": f"{text} in {v}.lower()",
        }[method]
        return f"({check} if ({v} := {self.read(field)}).__class__ is str else {fallback})"


def _string_test(value: SigmaString) -> tuple[str, str] | None:
    """(test, lower-cased literal) for plain, prefix, suffix and substring patterns."""
    if isinstance(value, SigmaCasedString):
        return None
    parts = value.s
    many = SpecialChars.WILDCARD_MULTI
    if all(isinstance(p, str) for p in parts):
        return "eq", "".join(parts).lower()  # type: ignore[arg-type]
    if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is many:
        return "startswith", parts[0].lower()
    if len(parts) == 2 and parts[0] is many and isinstance(parts[1], str):
        return "endswith", parts[1].lower()
    if len(parts) == 3 and parts[0] is many and parts[2] is many and isinstance(parts[1], str):
        return "contains", parts[1].lower()
    return None


def generate(compiler: Compiler, trees: list[Any]) -> Check:
    """One function for a rule's conditions (pySigma allows several, OR-ed)."""
    generator = _Generator(compiler)
    body = " or ".join(generator.expr(tree) for tree in trees if tree is not None)
    source = f"def check(ev, kw):\n    return bool({body or 'False'})\n"
    # The source holds only names bound in the namespace above, never rule text.
    exec(compile(source, "<sigma rule>", "exec"), generator.namespace)
    check: Check = generator.namespace["check"]
    return check
