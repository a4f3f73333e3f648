"""The optional ``atlasgate:`` block of a rule: what the gateway does on a match.

```yaml
atlasgate:
  action: CONSTRAIN          # ALLOW|LOG|CONSTRAIN|REVIEW|BLOCK
  constraint: {top1: true}   # or a bare name: top1
  for: 10m                   # how long the action stays on the matching identity
  window: 5m                 # window of the windowed api.* features this rule reads
```
"""

from __future__ import annotations

from typing import Any

from atlasgate.policy.constraints import CONSTRAINTS as POLICY_CONSTRAINTS
from atlasgate.policy.decision import Action
from atlasgate.sigma.dialect import parse_timespan

CONSTRAINTS = frozenset(POLICY_CONSTRAINTS)
_KEYS = frozenset({"action", "constraint", "for", "window"})


def parse_block(block: Any) -> tuple[dict[str, Any] | None, int | None, list[tuple[str, str]]]:
    """(action block or None, window seconds or None, [(key, error message)])."""
    if block is None:
        return None, None, []
    if not isinstance(block, dict):
        return None, None, [("", "atlasgate: must be a mapping")]
    errors: list[tuple[str, str]] = []
    for key in block:
        if key not in _KEYS:
            errors.append((key, f"atlasgate: unknown key '{key}' (expected one of "
                                f"{', '.join(sorted(_KEYS))})"))
    window = None
    if "window" in block:
        try:
            window = parse_timespan(block["window"])
        except ValueError as e:
            errors.append(("window", f"atlasgate.window: {e}"))
    if "action" not in block:
        if "constraint" in block or "for" in block:
            errors.append(("", "atlasgate: 'constraint' and 'for' need an 'action'"))
        return None, window, errors

    result: dict[str, Any] = {}
    try:
        result["action"] = Action.parse(str(block["action"])).name
    except ValueError as e:
        errors.append(("action", f"atlasgate.action: {e}"))
    constraint = block.get("constraint")
    if constraint is not None:
        if isinstance(constraint, str):
            constraint = {constraint: True}
        if not isinstance(constraint, dict):
            errors.append(("constraint", "atlasgate.constraint: a name or a mapping"))
        else:
            unknown = sorted(set(constraint) - CONSTRAINTS)
            if unknown:
                errors.append(("constraint", f"atlasgate.constraint: unknown {', '.join(unknown)}"
                                             f" (expected {', '.join(sorted(CONSTRAINTS))})"))
            result["constraint"] = dict(constraint)
        if result.get("action") not in (None, "CONSTRAIN"):
            errors.append(("constraint", "atlasgate.constraint applies only to CONSTRAIN"))
    if "for" in block:
        try:
            result["for"] = parse_timespan(block["for"])
        except ValueError as e:
            errors.append(("for", f"atlasgate.for: {e}"))
    return result, window, errors
