"""CONSTRAIN's redaction: replace reported spans with typed placeholders.

The same value gets the same placeholder for one caller (``[EMAIL_1]`` every
time ``jane@example.com`` appears), so the model can still reason about "the
first e-mail address". The mapping from placeholder to value stays with the
caller's ``PlaceholderState`` and can restore the values in the response for that
caller only; it is never shared across callers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from atlasgate.detectors.content.patterns import compile_re
from atlasgate.detectors.findings import Finding

REDACTED_DETECTORS = frozenset({"pii", "secrets", "leakage"})
_PLACEHOLDER = compile_re(r"\[[A-Z][A-Z0-9_]*_[0-9]+\]")


def placeholder_type(finding: Finding) -> str:
    if finding.detector == "secrets":
        return "SECRET"
    if finding.detector == "leakage":
        return "CANARY" if finding.kind == "canary" else "SYSTEM_PROMPT"
    return {"credit_card": "CARD", "ip_address": "IP", "street_address": "ADDRESS",
            "us_ssn": "NATIONAL_ID", "uk_nino": "NATIONAL_ID", "es_dni": "NATIONAL_ID",
            "in_aadhaar": "NATIONAL_ID"}.get(finding.kind, finding.kind.upper())


@dataclass
class PlaceholderState:
    """One caller's placeholders: counters per type and placeholder -> original value."""

    mapping: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    by_value: dict[tuple[str, str], str] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        existing = self.by_value.get(key)
        if existing is not None:
            return existing
        number = self.counters.get(kind, 0) + 1
        self.counters[kind] = number
        token = f"[{kind}_{number}]"
        self.by_value[key] = token
        self.mapping[token] = value
        return token


def redact_text(text: str, findings: Iterable[Finding], state: PlaceholderState,
                detectors: frozenset[str] = REDACTED_DETECTORS) -> str:
    """``text`` with every redactable finding's span replaced (overlaps merged)."""
    spans: list[tuple[int, int, str]] = []
    for finding in findings:
        if finding.detector not in detectors or finding.span is None:
            continue
        start, end = finding.span
        if 0 <= start < end <= len(text):
            spans.append((start, end, placeholder_type(finding)))
    if not spans:
        return text
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[list[Any]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            continue
        merged.append([start, end, kind])
    out = []
    position = 0
    for start, end, kind in merged:
        out.append(text[position:start])
        out.append(state.placeholder(kind, text[start:end]))
        position = end
    out.append(text[position:])
    return "".join(out)


def _resolve(body: Any, location: str) -> tuple[Any, str | int] | None:
    parts = location.split("/")
    node = body
    for part in parts[:-1]:
        key: str | int = int(part) if part.isdigit() and isinstance(node, list) else part
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    last: str | int = int(parts[-1]) if parts[-1].isdigit() and isinstance(node, list) else parts[-1]
    return node, last


def redact(body: dict[str, Any], findings: Iterable[Finding], placeholder_state: PlaceholderState
           | None = None, detectors: frozenset[str] = REDACTED_DETECTORS) -> dict[str, Any]:
    """A copy of ``body`` with the findings' spans replaced; the input is not modified."""
    state = placeholder_state if placeholder_state is not None else PlaceholderState()
    by_location: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.detector in detectors and finding.span is not None and finding.location:
            by_location.setdefault(finding.location, []).append(finding)
    if not by_location:
        return body
    result = copy.deepcopy(body)
    for location, items in by_location.items():
        target = _resolve(result, location)
        if target is None:
            continue
        node, key = target
        try:
            value = node[key]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(value, str):
            node[key] = redact_text(value, items, state, detectors)
    return result


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back for placeholders this caller's mapping knows."""
    if not mapping or "[" not in text:
        return text
    out = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        original = mapping.get(match.group())
        if original is None:
            continue
        start, end = match.span()
        out.append(text[position:start])
        out.append(original)
        position = end
    out.append(text[position:])
    return "".join(out)
