"""The streaming Sigma engine the gateway calls for every Event.

Rules are loaded and compiled once (``from_paths``); ``evaluate`` then only picks
the rules whose log source fits the event, skips those whose required fields are
absent, runs the compiled predicates, and feeds matches to correlations.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atlasgate.shipped import sigma_rule_path
from atlasgate.sigma.correlate import group_values, observe, run, run_async
from atlasgate.sigma.loader import Loader, RuleSet
from atlasgate.sigma.logsource import accepts, event_source
from atlasgate.sigma.match import SigmaMatch
from atlasgate.sigma.matchers import parse_timestamp
from atlasgate.sigma.problems import RuleProblem, SigmaRulesError
from atlasgate.sigma.rules import CompiledCorrelation, CompiledRule
from atlasgate.sigma.state import AsyncCorrelationState, CorrelationState, MemoryCorrelationState

_MAX_SOURCES = 1024


def load_rules(
    paths: Sequence[str | Path], *, expand_placeholders: dict[str, Any] | None = None
) -> RuleSet:
    """Load and compile rules without raising: errors and warnings are in ``problems``."""
    return Loader(expand_placeholders).load_paths([sigma_rule_path(p) for p in paths])


def event_time(fields: Mapping[str, Any]) -> float:
    moment = parse_timestamp(fields.get("@timestamp"))
    return moment.timestamp() if moment is not None else time.time()


class SigmaEngine:
    def __init__(
        self,
        ruleset: RuleSet,
        state: CorrelationState | AsyncCorrelationState | None = None,
        *,
        ignore_logsource: bool = False,
    ) -> None:
        if ruleset.errors:
            raise SigmaRulesError(ruleset.problems)
        self.rules: list[CompiledRule] = ruleset.rules
        self.correlations: list[CompiledCorrelation] = ruleset.correlations
        self.warnings: list[RuleProblem] = ruleset.warnings
        self.state: CorrelationState | AsyncCorrelationState = (
            state if state is not None else MemoryCorrelationState())
        self._shared = inspect.iscoroutinefunction(getattr(self.state, "add", None))
        self.ignore_logsource = ignore_logsource
        self._plans: dict[tuple[Any, ...], list[tuple[CompiledRule, tuple[str, ...]]]] = {}

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str | Path],
        *,
        expand_placeholders: dict[str, Any] | None = None,
        state: CorrelationState | AsyncCorrelationState | None = None,
        ignore_logsource: bool = False,
    ) -> SigmaEngine:
        """Load every rule under ``paths``; raises ``SigmaRulesError`` listing all errors."""
        ruleset = load_rules(paths, expand_placeholders=expand_placeholders)
        return cls(ruleset, state, ignore_logsource=ignore_logsource)

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        path: str = "<rules>",
        expand_placeholders: dict[str, Any] | None = None,
        state: CorrelationState | AsyncCorrelationState | None = None,
        ignore_logsource: bool = False,
    ) -> SigmaEngine:
        ruleset = Loader(expand_placeholders).load_text(text, path)
        return cls(ruleset, state, ignore_logsource=ignore_logsource)

    # -- what the gateway asks once -------------------------------------------------------------

    def required_windows(self) -> set[int]:
        """Windows (seconds) over which the gateway must compute windowed ``api.*`` features.

        Each rule with a window reads ``<field>_<label>`` (``api.request_count_5m``)
        when the event carries it, else the default-window field.
        """
        return {rule.window for rule in self.rules if rule.window}

    def rule_techniques(self) -> dict[str, tuple[str, ...]]:
        """ATLAS technique IDs per loaded rule (detections and correlations), by rule id."""
        return {r.key: r.techniques for r in [*self.rules, *self.correlations]}

    def rule_tactics(self) -> dict[str, tuple[str, ...]]:
        return {r.key: r.tactics for r in [*self.rules, *self.correlations]}

    # -- the hot path ---------------------------------------------------------------------------

    def _plan(self, fields: Mapping[str, Any]) -> list[tuple[CompiledRule, tuple[str, ...]]]:
        """The rules that can match events like this one, cached by what decides the source."""
        shape = (
            fields.get("api.method"), fields.get("decision.action") is not None,
            fields.get("event.kind") == "alert", fields.get("logsource.product"),
            fields.get("logsource.category"), fields.get("logsource.service"),
        )
        try:
            plan = self._plans.get(shape)
        except TypeError:  # a list or an object where a name belongs: plan without caching
            return self._plan_for(fields)
        if plan is None:
            plan = self._plan_for(fields)
            if len(self._plans) >= _MAX_SOURCES:
                self._plans.clear()
            self._plans[shape] = plan
        return plan

    def _plan_for(self, fields: Mapping[str, Any]) -> list[tuple[CompiledRule, tuple[str, ...]]]:
        source = event_source(fields)
        return [
            (rule, tuple(sorted(rule.required)))
            for rule in self.rules
            if self.ignore_logsource or accepts(rule.logsource, source)
        ]

    def evaluate(self, event: Any, now: float | None = None) -> list[SigmaMatch]:
        """Matches of every rule and correlation on one event (flat dotted fields or ``Event``)."""
        if self._shared:
            raise TypeError("this engine keeps correlations in an asynchronous store: "
                            "use evaluate_async")
        fields, ids, at, matches, matched = self._detect(event, now)
        for rule in matched:
            for correlation in rule.correlations:
                self._feed(correlation, rule.key, fields, ids, at, matches)
        return matches

    async def evaluate_async(self, event: Any, now: float | None = None) -> list[SigmaMatch]:
        """``evaluate`` for an engine whose correlation state is shared (awaited I/O)."""
        fields, ids, at, matches, matched = self._detect(event, now)
        for rule in matched:
            for correlation in rule.correlations:
                await self._feed_async(correlation, rule.key, fields, ids, at, matches)
        return matches

    def _detect(self, event: Any, now: float | None) -> tuple[
        Mapping[str, Any], tuple[str, ...], float, list[SigmaMatch], list[CompiledRule]
    ]:
        """Run the detection rules; return their alerts and the rules correlations must see."""
        fields: Mapping[str, Any] = event.flat() if hasattr(event, "flat") else event
        keyword_text: list[str | None] = [None]
        matches: list[SigmaMatch] = []
        matched: list[CompiledRule] = []
        event_id = fields.get("event.id")
        ids = (str(event_id),) if event_id is not None else ()
        at = now
        for rule, required in self._plan(fields):
            for name in required:
                if name not in fields:
                    break
            else:
                if not rule.check(fields, keyword_text):
                    continue
                if at is None:
                    at = event_time(fields)
                if rule.output:
                    matches.append(SigmaMatch(
                        rule.key, rule.title, rule.level, rule.techniques, rule.tactics, ids,
                        {}, rule.action, "detection", None, rule.name, at,
                    ))
                if rule.correlations:
                    matched.append(rule)
        return fields, ids, at if at is not None else 0.0, matches, matched

    def _fired(self, correlation: CompiledCorrelation, fired: tuple[str, ...],
               group: dict[str, Any], at: float, matches: list[SigmaMatch]) -> None:
        if correlation.output:
            matches.append(SigmaMatch(
                correlation.key, correlation.title, correlation.level, correlation.techniques,
                correlation.tactics, fired, group, correlation.action, "correlation",
                correlation.type, correlation.name, at,
            ))

    def _feed(self, correlation: CompiledCorrelation, rule_key: str, fields: Mapping[str, Any],
              ids: tuple[str, ...], at: float, matches: list[SigmaMatch]) -> None:
        group = group_values(correlation, rule_key, fields)
        fired = run(observe(correlation, rule_key, fields, ids, group, at),
                    self.state)  # type: ignore[arg-type]
        if fired is not None:
            self._fired(correlation, fired, group, at, matches)
            for outer in correlation.correlations:
                self._feed(outer, correlation.key, fields, fired, at, matches)

    async def _feed_async(
        self, correlation: CompiledCorrelation, rule_key: str, fields: Mapping[str, Any],
        ids: tuple[str, ...], at: float, matches: list[SigmaMatch],
    ) -> None:
        group = group_values(correlation, rule_key, fields)
        steps = observe(correlation, rule_key, fields, ids, group, at)
        if self._shared:
            fired = await run_async(steps, self.state)  # type: ignore[arg-type]
        else:
            fired = run(steps, self.state)  # type: ignore[arg-type]
        if fired is not None:
            self._fired(correlation, fired, group, at, matches)
            for outer in correlation.correlations:
                await self._feed_async(outer, correlation.key, fields, fired, at, matches)
