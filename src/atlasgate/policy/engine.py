"""The policy engine: the only place where signals become a Decision.

A ``PolicySet`` is an immutable snapshot. Reload builds a new one and swaps the
reference, so a request in flight finishes on the snapshot it started with.

A rule whose condition lies in CEL's comparison-and-logic subset runs on the Event's
flat fields (``policy.subset``); the others, and any value the subset hands back,
run on CEL with a context holding only the fields the plan's rules read. Rules that
cannot match Events of a given shape or whose guard is false are not evaluated at all
(``policy.index``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import cel

from atlasgate.errors import PolicyError
from atlasgate.event import Event
from atlasgate.policy.constraints import combine
from atlasgate.policy.decision import Action, Decision
from atlasgate.policy.index import Layout
from atlasgate.policy.rules import Rule
from atlasgate.policy.subset import ABSENT, Fallback, names_read, shadowed


@dataclass(frozen=True, slots=True)
class _Plan:
    """The rules that can apply to one (phase, api.method), and the fields they read."""

    rules: tuple[Rule, ...]
    paths: tuple[tuple[str, ...], ...]
    layouts: dict[tuple[str, ...], Layout] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, rules: tuple[Rule, ...]) -> _Plan:
        paths = dict.fromkeys(tuple(chain.split(".")) for rule in rules for chain in rule.chains)
        return cls(rules, tuple(paths))

    def layout(self, flat: dict[str, Any]) -> Layout | None:
        """The index for Events with these field names; None once 256 shapes are kept
        (a route gives its Events one shape, so more means churn: evaluate every rule)."""
        key = tuple(flat)
        layout = self.layouts.get(key)
        if layout is None and len(self.layouts) < 256:
            layout = self.layouts[key] = Layout.of(self.rules, flat)
        return layout

    def context(self, nested: dict[str, Any]) -> tuple[cel.Context, frozenset[str]]:
        """A CEL context with only the values the plan's rules read, and its variables.

        A path may stop at a map (``detection.pii``) or run past a field into a
        method call (``llm.prompt.size``): the value where the Event's tree ends is taken.
        """
        selected: dict[str, Any] = {}
        for path in self.paths:
            node: Any = nested
            depth = 0
            while depth < len(path) and isinstance(node, dict) and path[depth] in node:
                node = node[path[depth]]
                depth += 1
            if depth == 0 or (depth < len(path) and isinstance(node, dict)):
                continue  # absent: the rule reading it does not apply
            target = selected
            for part in path[: depth - 1]:
                target = target.setdefault(part, {})
            target[path[depth - 1]] = node
        return cel.Context(variables=selected), frozenset(selected)


@dataclass(frozen=True)
class PolicySet:
    rules: tuple[Rule, ...]
    revision: str
    indexed: bool = field(default=True, compare=False)  # False: evaluate every rule (reference)
    redacts_responses: bool = field(init=False, default=False)  # streams are then redacted

    def __post_init__(self) -> None:
        by_phase: dict[str, tuple[Rule, ...]] = {}
        for phase in ("request", "response"):
            by_phase[phase] = tuple(r for r in self.rules if r.phase == phase)
        object.__setattr__(self, "_by_phase", by_phase)
        object.__setattr__(self, "_plans", {})
        object.__setattr__(self, "redacts_responses",
                           any(r.constraint.get("redact") for r in by_phase["response"]))

    def for_phase(self, phase: str) -> tuple[Rule, ...]:
        return self._by_phase[phase]  # type: ignore[attr-defined,no-any-return]

    def _plan(self, phase: str, method: Any) -> _Plan:
        plans: dict[tuple[str, Any], _Plan] = self._plans  # type: ignore[attr-defined]
        plan = plans.get((phase, method))
        if plan is None:
            plan = _Plan.of(tuple(r for r in self.for_phase(phase)
                                  if r.methods is None or method in r.methods))
            if len(plans) < 256:  # api.method has a handful of values; never grow unbounded
                plans[(phase, method)] = plan
        return plan

    def decide(self, event: Event, phase: str = "request", decision_id: str | None = None, *,
               skip_failing: bool = False) -> Decision:
        """Evaluate every rule of ``phase``; raises PolicyError if a condition fails.

        With ``skip_failing`` (fail_mode: open) a failing rule is skipped and named in the
        decision's ``failed`` instead, and every other rule still decides: a value that
        breaks one condition must not switch the whole policy off.
        """
        plan = self._plan(phase, event.get("api.method"))
        matched: list[Rule] = []
        failed: list[str] = []
        flat = event.flat()
        cel_context: tuple[cel.Context, frozenset[str]] | None = None
        layout = plan.layout(flat) if self.indexed else None
        rules = plan.rules if layout is None else layout.candidates(flat)
        shadows = None if layout is None else layout.shadows
        for rule in rules:
            if rule.direct is not None:
                try:
                    result = rule.direct(flat)
                    if result is True:
                        matched.append(rule)
                        continue
                    if result is not ABSENT:
                        continue
                    # ABSENT: the rule does not apply, unless it read a name that CEL
                    # finds in the nested Event (a map, an @ field): then CEL decides.
                    if shadows is None:
                        shadows = shadowed(flat)
                    if names_read(rule.direct).isdisjoint(shadows):
                        continue
                except Fallback:
                    pass  # a value only CEL decides exactly: evaluate the rule there
            if cel_context is None:
                cel_context = plan.context(event.nested())
            context, present = cel_context
            # A rule none of whose variables exist can only fail on an undefined name:
            # skip it instead of raising and catching an error per rule and request.
            if rule.roots and present.isdisjoint(rule.roots):
                continue
            try:
                if rule.matches(context):
                    matched.append(rule)
            except PolicyError as exc:
                if not skip_failing:
                    raise
                failed.append(f"{exc} (rule skipped, fail_mode=open)")
        did = decision_id or uuid.uuid4().hex
        if not matched:
            return Decision(did, Action.ALLOW, "policy.error" if failed else None,
                            tuple(failed) or ("no rule matched",), (),
                            policy_revision=self.revision, phase=phase, failed=tuple(failed))
        winner = max(matched, key=lambda r: (r.action, r.severity))
        techniques: list[str] = []
        for rule in matched:
            techniques.extend(t for t in rule.techniques if t not in techniques)
        constraints = combine([r.constraint for r in matched if r.action is Action.CONSTRAIN])
        return Decision(
            id=did,
            action=winner.action,
            rule=winner.id,
            # Reasons reach callers in error bodies; a failing condition's text stays in
            # ``failed``, which only the log keeps.
            reasons=tuple(f"{r.id}: {r.description}" if r.description else r.id for r in matched),
            techniques=tuple(techniques),
            constraints=constraints,
            matched=tuple(r.id for r in matched),
            policy_revision=self.revision,
            phase=phase,
            failed=tuple(failed),
        )
