"""Load and lint findings for rule files, each tied to a file and line.

Loading collects every problem before failing, so an analyst fixing a rule pack
sees all of them at once instead of one per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from atlasgate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RuleProblem:
    path: str
    line: int | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


class SigmaRulesError(ConfigError):
    """One or more Sigma rules failed to load; ``problems`` lists every one."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        first = self.problems[0] if self.problems else RuleProblem("<rules>", None, "invalid")
        super().__init__(first.message, first.path, first.line)

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} error{'s' if count != 1 else ''} in Sigma rules"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])
