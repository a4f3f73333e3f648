"""The data-check policy: which findings hold a batch for review and which block it.

A rule matches a finding by check name (``*`` for any) and minimum strength, and may
require a minimum number or share of rows. The batch gets the strongest action of
all matching rules; with no match it is allowed. Only ALLOW, REVIEW and BLOCK make
sense for a batch of data, so other actions are refused at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from atlasgate.data.errors import DataError
from atlasgate.data.report import STRENGTHS, DataFinding
from atlasgate.data.techniques import BY_CHECK
from atlasgate.policy.decision import Action

ACTIONS = (Action.ALLOW, Action.REVIEW, Action.BLOCK)
_RULE_KEYS = {"id", "check", "strength", "min_rows", "min_share", "action", "description"}


@dataclass(frozen=True, slots=True)
class DataRule:
    id: str
    check: str
    strength: str
    action: Action
    min_rows: int = 0
    min_share: float = 0.0
    description: str = ""

    def matches(self, finding: DataFinding, batch_rows: int) -> bool:
        if self.check not in ("*", finding.check):
            return False
        if STRENGTHS.index(finding.strength) < STRENGTHS.index(self.strength):
            return False
        if finding.rows or self.min_rows:
            if len(finding.rows) < self.min_rows:
                return False
            if batch_rows and len(finding.rows) / batch_rows < self.min_share:
                return False
        return True


@dataclass(frozen=True, slots=True)
class DataPolicy:
    rules: tuple[DataRule, ...]

    @classmethod
    def default(cls) -> DataPolicy:
        text = resources.files("atlasgate.data").joinpath("default_policy.yaml").read_text()
        return cls.parse(yaml.safe_load(text), "atlasgate/data/default_policy.yaml")

    @classmethod
    def load(cls, path: str | Path) -> DataPolicy:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot read policy: {exc.strerror or exc}", name) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DataError(
                f"not valid YAML: {getattr(exc, 'problem', exc)}",
                name,
                mark.line + 1 if mark else None,
            ) from None
        return cls.parse(data, name, text)

    @classmethod
    def parse(cls, data: Any, name: str = "<policy>", text: str = "") -> DataPolicy:
        if isinstance(data, dict) and "data_checks" in data:
            data = data["data_checks"]
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise DataError("a data-check policy is a mapping with a 'rules' list", name)
        rules = []
        for index, raw in enumerate(data["rules"]):
            line = _line_of(text, raw.get("id") if isinstance(raw, dict) else None)
            rules.append(_rule(raw, index, name, line))
        return cls(tuple(rules))

    def decide(self, findings: list[DataFinding], batch_rows: int) -> tuple[Action, list[str], list[str]]:
        """The action, the reasons (one per finding that raised it) and the rule ids."""
        action = Action.ALLOW
        reasons: list[str] = []
        fired: list[str] = []
        for finding in findings:
            matched = [r for r in self.rules if r.matches(finding, batch_rows)]
            if not matched:
                continue
            rule = max(matched, key=lambda r: r.action)
            if rule.action == Action.ALLOW:
                continue
            action = max(action, rule.action)
            if rule.id not in fired:
                fired.append(rule.id)
            reasons.append(f"{rule.action.name} by {rule.id}: {finding.explanation}")
        if action != Action.ALLOW:
            reasons = [r for r in reasons if r.startswith(action.name)] + [
                r for r in reasons if not r.startswith(action.name)
            ]
        return action, reasons, fired


def _rule(raw: Any, index: int, name: str, line: int | None) -> DataRule:
    where = f"rule {index + 1}"
    if not isinstance(raw, dict):
        raise DataError(f"{where} must be a mapping", name, line)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", name, line)
    check = str(raw.get("check", "*"))
    if check != "*" and check not in BY_CHECK:
        raise DataError(
            f"{where}: unknown check {check!r}; expected * or one of {', '.join(BY_CHECK)}",
            name,
            line,
        )
    strength = str(raw.get("strength", "moderate"))
    if strength not in STRENGTHS:
        raise DataError(f"{where}: strength must be one of {', '.join(STRENGTHS)}", name, line)
    try:
        action = Action.parse(str(raw.get("action", "")))
    except ValueError:
        raise DataError(
            f"{where}: unknown action {raw.get('action')!r}; expected ALLOW, REVIEW or BLOCK",
            name,
            line,
        ) from None
    if action not in ACTIONS:
        raise DataError(f"{where}: a data batch can only be ALLOW, REVIEW or BLOCK", name, line)
    try:
        min_rows = int(raw.get("min_rows", 0))
        min_share = float(raw.get("min_share", 0.0))
    except (TypeError, ValueError):
        raise DataError(f"{where}: min_rows and min_share must be numbers", name, line) from None
    return DataRule(
        id=str(raw.get("id") or f"data-rule-{index + 1}"),
        check=check,
        strength=strength,
        action=action,
        min_rows=min_rows,
        min_share=min_share,
        description=str(raw.get("description", "")),
    )


def _line_of(text: str, rule_id: Any) -> int | None:
    if not text or rule_id is None:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if str(rule_id) in line and "id" in line:
            return number
    return None
