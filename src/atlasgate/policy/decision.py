"""Actions and the Decision: what the policy engine hands to enforcement and the log."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Action(enum.IntEnum):
    """Ordered by severity, so the strongest of several matches is ``max()``."""

    ALLOW = 0
    LOG = 1
    CONSTRAIN = 2
    REVIEW = 3
    BLOCK = 4

    @classmethod
    def parse(cls, text: str) -> Action:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(a.name for a in cls)
            raise ValueError(f"unknown action {text!r}; expected one of {names}") from None


class Severity(enum.IntEnum):
    """How loud an alert is, independent of the action taken."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of evaluating one Event against one policy snapshot."""

    id: str
    action: Action
    rule: str | None
    reasons: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    constraints: dict[str, Any] = field(default_factory=dict)
    matched: tuple[str, ...] = ()
    policy_revision: str = ""
    phase: str = "request"
    failed: tuple[str, ...] = ()  # rules skipped because their condition failed (fail_mode: open)

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "action": self.action.name,
            "rule": self.rule,
            "reasons": list(self.reasons),
            "techniques": list(self.techniques),
            "constraints": self.constraints,
            "matched": list(self.matched),
            "policy_revision": self.policy_revision,
            "phase": self.phase,
        }
        if self.failed:
            record["failed"] = list(self.failed)
        return record
