"""The policy engine: the only place where signals become a Decision.

A ``PolicySet`` is an immutable snapshot. Reload builds a new one and swaps the
reference, so a request in flight finishes on the snapshot it started with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from atlasgate.event import Event
from atlasgate.policy.constraints import combine
from atlasgate.policy.decision import Action, Decision
from atlasgate.policy.rules import Rule


@dataclass(frozen=True)
class PolicySet:
    rules: tuple[Rule, ...]
    revision: str

    def __post_init__(self) -> None:
        by_phase: dict[str, tuple[Rule, ...]] = {}
        for phase in ("request", "response"):
            by_phase[phase] = tuple(r for r in self.rules if r.phase == phase)
        object.__setattr__(self, "_by_phase", by_phase)

    def for_phase(self, phase: str) -> tuple[Rule, ...]:
        return self._by_phase[phase]  # type: ignore[attr-defined,no-any-return]

    def techniques(self) -> set[str]:
        return {t for rule in self.rules for t in rule.techniques}

    def decide(self, event: Event, phase: str = "request", decision_id: str | None = None) -> Decision:
        """Evaluate every rule of ``phase``; raises PolicyError if a condition fails."""
        rules = self.for_phase(phase)
        nested = event.nested()
        matched = [rule for rule in rules if rule.matches(nested)] if rules else []
        did = decision_id or uuid.uuid4().hex
        if not matched:
            return Decision(did, Action.ALLOW, None, ("no rule matched",), (),
                            policy_revision=self.revision, phase=phase)
        winner = max(matched, key=lambda r: (r.action, r.severity))
        techniques: list[str] = []
        for rule in matched:
            techniques.extend(t for t in rule.techniques if t not in techniques)
        constraints = combine([r.constraint for r in matched if r.action is Action.CONSTRAIN])
        return Decision(
            id=did,
            action=winner.action,
            rule=winner.id,
            reasons=tuple(f"{r.id}: {r.description}" if r.description else r.id for r in matched),
            techniques=tuple(techniques),
            constraints=constraints,
            matched=tuple(r.id for r in matched),
            policy_revision=self.revision,
            phase=phase,
        )
