"""Compiled rules: what the engine evaluates, with the metadata alerts carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaLogSource, SigmaRule

from atlasgate.sigma.compiler import Check


@dataclass(eq=False)
class CompiledRule:
    """A detection rule compiled to one predicate."""

    key: str  # the rule's id as written: a UUID or a legacy name
    name: str | None
    title: str
    level: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    logsource: SigmaLogSource
    check: Check
    required: frozenset[str]
    fields: frozenset[str]
    window: int | None
    action: dict[str, Any] | None
    path: str
    line: int
    sigma: SigmaRule
    legacy: bool = False
    output: bool = True  # False when only correlations read its matches
    correlations: list[CompiledCorrelation] = field(default_factory=list)


@dataclass(eq=False)
class CompiledCorrelation:
    """A correlation rule over the matches of other rules."""

    key: str
    name: str | None
    title: str
    level: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    type: str  # event_count, value_count, temporal, temporal_ordered, value_sum, ...
    rules: tuple[str, ...]  # keys of the referenced rules, in the rule's order
    references: dict[str, str]  # reference as written in the rule -> referenced rule's key
    timespan: int
    group_by: tuple[str, ...]
    # alias -> {referenced rule key -> field}
    aliases: dict[str, dict[str, str]]
    op: str | None  # lt, lte, gt, gte, eq, neq (None for plain temporal)
    threshold: float | None
    value_field: str | None
    percentile: int | None
    extended: Any  # pySigma extended condition tree (temporal), or None
    action: dict[str, Any] | None
    path: str
    line: int
    sigma: SigmaCorrelationRule
    output: bool = True
    correlations: list[CompiledCorrelation] = field(default_factory=list)

    def field_for(self, rule_key: str, name: str) -> str:
        """The event field a group-by or value field reads in one referenced rule."""
        alias = self.aliases.get(name)
        if alias is not None:
            return alias.get(rule_key, name)
        return name
