"""A rule match and the alert Event it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SigmaMatch:
    rule_id: str  # the id as the rule author wrote it (UUID or legacy name)
    title: str
    level: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    event_ids: tuple[str, ...]
    group_by: dict[str, Any] = field(default_factory=dict)
    action: dict[str, Any] | None = None  # the rule's ``atlasgate:`` block, normalized
    kind: str = "detection"  # or "correlation"
    correlation_type: str | None = None
    rule_name: str | None = None
    timestamp: float = 0.0

    def alert_fields(self) -> dict[str, Any]:
        """Flat fields of the alert Event written to the decision log and exporters."""
        fields: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(self.timestamp, UTC).isoformat(),
            "event.kind": "alert",
            "event.module": "sigma",
            "event.severity": self.level,
            "rule.id": self.rule_id,
            "rule.name": self.title,
            "rule.ruleset": "sigma",
            "sigma.kind": self.kind,
            "sigma.matched_event_ids": list(self.event_ids),
            "atlas.techniques": list(self.techniques),
            "atlas.tactics": list(self.tactics),
        }
        if self.correlation_type:
            fields["sigma.correlation_type"] = self.correlation_type
        for name, value in self.group_by.items():
            fields[f"sigma.group_by.{name}"] = value
        if self.action:
            fields["sigma.action"] = dict(self.action)
        return fields
