"""Findings and the report of one batch check, readable by a person and by a pipeline."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import orjson

from atlasgate.policy.decision import Action, Decision

STRENGTHS = ("weak", "moderate", "strong")
MAX_LISTED_ROWS = 50


@dataclass(frozen=True, slots=True)
class DataFinding:
    """One thing a check saw in a batch.

    ``rows`` are 0-based positions in the batch (the first data row is 0);
    ``p_value`` is already corrected for the number of tests the check ran.
    """

    check: str
    test: str
    techniques: tuple[str, ...]
    strength: str
    explanation: str
    rows: tuple[int, ...] = ()
    features: tuple[str, ...] = ()
    p_value: float | None = None
    effect: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "test": self.test,
            "techniques": list(self.techniques),
            "strength": self.strength,
            "explanation": self.explanation,
            "rows": list(self.rows),
            "row_count": len(self.rows),
            "features": list(self.features),
            "p_value": self.p_value,
            "effect": self.effect,
            "detail": self.detail,
        }


@dataclass
class CheckReport:
    dataset: str
    rows: int
    decision: Action
    findings: list[DataFinding]
    reasons: list[str]
    rules: list[str]
    profile: str = ""
    batch: str = ""
    checks_run: list[str] = field(default_factory=list)

    @property
    def techniques(self) -> list[str]:
        seen: list[str] = []
        for finding in self.findings:
            if finding.strength == "weak":
                continue
            for t in finding.techniques:
                if t not in seen:
                    seen.append(t)
        return seen

    def by_check(self, check: str) -> list[DataFinding]:
        return [f for f in self.findings if f.check == check]

    def flagged_rows(self, *checks: str) -> set[int]:
        out: set[int] = set()
        for finding in self.findings:
            if not checks or finding.check in checks:
                out.update(finding.rows)
        return out

    def as_decision(self, decision_id: str, policy_revision: str = "") -> Decision:
        """The check's outcome as the gateway's Decision, for the decision log."""
        return Decision(
            id=decision_id,
            action=self.decision,
            rule=self.rules[0] if self.rules else None,
            reasons=tuple(self.reasons),
            techniques=tuple(self.techniques),
            matched=tuple(self.rules),
            policy_revision=policy_revision,
            phase="request",
        )

    def event_fields(self) -> dict[str, Any]:
        """Flat Event fields describing the batch (``api.method`` is ``ingest``)."""
        fields: dict[str, Any] = {
            "api.method": "ingest",
            "data.dataset": self.dataset,
            "data.rows": self.rows,
            "data.findings": len([f for f in self.findings if f.strength != "weak"]),
            "data.checks": [f.check for f in self.findings if f.strength != "weak"],
            "data.flagged_rows": len(self.flagged_rows()),
        }
        for finding in self.findings:
            key = f"detection.data.{finding.check}"
            if finding.strength != "weak" and key not in fields:
                fields[key] = finding.strength
        return fields

    def as_record(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "batch": self.batch,
            "profile": self.profile,
            "rows": self.rows,
            "decision": self.decision.name,
            "rules": self.rules,
            "reasons": self.reasons,
            "techniques": self.techniques,
            "checks_run": self.checks_run,
            "findings": [f.as_record() for f in self.findings],
        }

    def to_json(self) -> str:
        return orjson.dumps(
            self.as_record(),
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            default=_plain,
        ).decode()

    def to_text(self) -> str:
        lines = [f"{self.decision.name}: {self.batch or self.dataset} ({self.rows} rows)"]
        for reason in self.reasons:
            lines.append(f"  because {reason}")
        for f in self.findings:
            lines.append("")
            lines.append(f"[{f.strength}] {f.check} ({', '.join(f.techniques)})")
            lines.append(f"  test: {f.test}" + (f"; p = {f.p_value:.3g}" if f.p_value is not None else ""))
            lines.append(f"  {f.explanation}")
            if f.rows:
                shown = ", ".join(str(r) for r in f.rows[:20])
                more = f" … (+{len(f.rows) - 20})" if len(f.rows) > 20 else ""
                lines.append(f"  rows: {shown}{more}")
        if not self.findings:
            lines.append(f"  no findings from {len(self.checks_run)} checks")
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        colour = {"ALLOW": "#2e7d32", "REVIEW": "#ef6c00", "BLOCK": "#c62828"}.get(self.decision.name, "#555")
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>AtlasGate data check: {esc(self.batch or self.dataset)}</title>",
            "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
            "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;"
            "padding:.4em;vertical-align:top;text-align:left}.weak{color:#777}"
            ".strong{font-weight:bold}code{background:#f4f4f4}</style></head><body>",
            f"<h1>Data check: {esc(self.batch or self.dataset)}</h1>",
            f"<p>Decision: <strong style='color:{colour}'>{self.decision.name}</strong>"
            f" &middot; {self.rows} rows &middot; profile <code>{esc(self.profile)}</code></p>",
        ]
        if self.reasons:
            parts.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in self.reasons) + "</ul>")
        if self.techniques:
            parts.append(
                "<p>ATLAS techniques: "
                + ", ".join(f"<code>{esc(t)}</code>" for t in self.techniques)
                + "</p>"
            )
        parts.append(
            "<table><tr><th>check</th><th>strength</th><th>test</th><th>ATLAS</th>"
            "<th>explanation</th><th>features</th><th>rows</th></tr>"
        )
        for f in self.findings:
            rows = ", ".join(str(r) for r in f.rows[:MAX_LISTED_ROWS])
            if len(f.rows) > MAX_LISTED_ROWS:
                rows += f" … (+{len(f.rows) - MAX_LISTED_ROWS})"
            p = f"<br>p = {f.p_value:.3g}" if f.p_value is not None else ""
            parts.append(
                f"<tr class='{f.strength}'><td>{esc(f.check)}</td><td>{f.strength}</td>"
                f"<td>{esc(f.test)}{p}</td><td>{esc(', '.join(f.techniques))}</td>"
                f"<td>{esc(f.explanation)}</td><td>{esc(', '.join(f.features[:12]))}</td>"
                f"<td>{esc(rows)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(f"<p>Checks run: {esc(', '.join(self.checks_run))}</p></body></html>")
        return "".join(parts)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
