"""Policy rules compiled once: a CEL program per rule, evaluated per Event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cel

from atlasgate.errors import PolicyError
from atlasgate.policy.analysis import field_chains, method_guard
from atlasgate.policy.decision import Action, Severity
from atlasgate.policy.subset import Evaluator, compile_subset

# Errors that mean "this Event does not have the field the rule reads": the rule
# simply does not apply. Anything else is a real evaluation failure.
_ABSENT_MARKERS = ("no such key", "undeclared reference", "no such field", "NoSuchKey",
                   "Undefined variable")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    condition: str
    action: Action
    severity: Severity
    techniques: tuple[str, ...]
    constraint: dict[str, Any]
    phase: str
    source: str
    program: Any
    roots: tuple[str, ...]
    chains: tuple[str, ...] = ()
    methods: frozenset[str] | None = None
    direct: Evaluator | None = None  # the same condition on flat fields, when in the subset

    def matches(self, context: Any) -> bool:
        """Evaluate on a CEL context (or a dict of the variables the rule reads)."""
        try:
            result = self.program.execute(context)
        except KeyError:
            return False
        except Exception as exc:
            text = str(exc)
            if any(marker in text for marker in _ABSENT_MARKERS):
                return False
            raise PolicyError(f"rule {self.id}: condition failed: {text}") from None
        if not isinstance(result, bool):
            raise PolicyError(
                f"rule {self.id}: condition must be true or false, got {type(result).__name__}"
            )
        return result


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    program: Any
    roots: tuple[str, ...]
    chains: tuple[str, ...]
    methods: frozenset[str] | None
    direct: Evaluator | None


def compile_condition(condition: str) -> CompiledCondition:
    """Compile a CEL condition; raise ValueError with CEL's own pointer to the problem."""
    try:
        program = cel.compile(condition)
    except Exception as exc:  # the binding raises ValueError for parse errors
        message = str(exc).replace("<input>", "condition")
        raise ValueError(f"invalid CEL condition: {message}") from None
    roots = tuple(sorted({name.split(".")[0] for name in program.variables()}))
    return CompiledCondition(program, roots, field_chains(condition, roots), method_guard(condition),
                             compile_subset(condition))
