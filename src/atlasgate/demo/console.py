"""The live decision table of ``atlasgate demo``: one row per decision, as it happens.

Runs of identical rows (same key, route, action and rule) are folded into one
"repeated" line, so a burst of 250 queries reads as its escalation, not as a wall.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

_STYLES = {"ALLOW": "green", "LOG": "cyan", "CONSTRAIN": "yellow", "REVIEW": "magenta",
           "BLOCK": "bold red"}
_COLUMNS = (("time", 13), ("key", 8), ("route", 35), ("action", 10), ("rule", 33), ("ATLAS", 44))


class DecisionTable:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._last: tuple[Any, ...] | None = None
        self._repeats = 0

    def header(self) -> None:
        self.console.print(Text("".join(name.ljust(width) for name, width in _COLUMNS),
                                style="bold underline"), soft_wrap=True)

    def __call__(self, entry: dict[str, Any]) -> None:
        event = entry.get("event", {})
        decision = entry.get("response_decision") or entry.get("decision", {})
        first = entry.get("decision", {})
        action = event.get("decision.action") or decision.get("action", "?")
        rule = event.get("decision.rule") or first.get("rule") or "-"
        route = event.get("api.endpoint", "?")
        techniques = ",".join(event.get("atlas.techniques") or first.get("techniques") or []) or "-"
        signature = (event.get("client.key_id"), route, action, rule)
        if signature == self._last:
            self._repeats += 1
            return
        self.flush()
        self._last = signature
        row = Text()
        stamp = str(event.get("@timestamp", ""))[11:23]
        for (_, width), value, style in zip(_COLUMNS, (
            stamp, event.get("client.key_id") or "-", route, action, rule, techniques,
        ), ("dim", "", "", _STYLES.get(action, ""), "", "dim"), strict=True):
            text = str(value)
            row.append((text if len(text) < width else text[: width - 2] + "… ").ljust(width), style)
        self.console.print(row, soft_wrap=True)

    def flush(self) -> None:
        if self._repeats:
            self.console.print(Text(f"{'':12}… the same decision {self._repeats} more times",
                                    style="dim"))
        self._repeats = 0
