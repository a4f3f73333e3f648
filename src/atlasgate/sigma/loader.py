"""Load Sigma rule files with pySigma and compile them, collecting every problem.

Each document is parsed on its own so that an error can be pinned to its file and
line; references between rules (correlations, filters) are resolved afterwards
across all files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
)
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from atlasgate.sigma.actions import parse_block
from atlasgate.sigma.codegen import generate
from atlasgate.sigma.compiler import WINDOWED_FIELDS, Compiler, referenced_fields, required_fields
from atlasgate.sigma.dialect import (
    NormalizedRule,
    normalize,
    parse_comparison,
    spec_key,
    window_label,
)
from atlasgate.sigma.logsource import logsource_warning
from atlasgate.sigma.matchers import UnsupportedValue
from atlasgate.sigma.problems import RuleProblem
from atlasgate.sigma.rules import CompiledCorrelation, CompiledRule
from atlasgate.sigma.source import RuleDocument, parse_documents, rule_files

_OPERATORS = {
    ">": CompareOperators.GT, ">=": CompareOperators.GTE, "<": CompareOperators.LT,
    "<=": CompareOperators.LTE, "!=": CompareOperators.NEQ,
}

# pySigma error class -> the rule key it is about.
_ERROR_KEYS: dict[str, tuple[str, ...]] = {
    "SigmaIdentifierError": ("id",), "SigmaTitleError": ("title",),
    "SigmaLevelError": ("level",), "SigmaStatusError": ("status",),
    "SigmaDateError": ("date",), "SigmaModifiedError": ("modified",),
    "SigmaLogsourceError": ("logsource",), "SigmaTagError": ("tags",),
    "SigmaNameError": ("name",), "SigmaDescriptionError": ("description",),
    "SigmaConditionError": ("detection", "condition"),
    "SigmaCorrelationConditionError": ("correlation", "condition"),
    "SigmaTimespanError": ("correlation", "timespan"),
    "SigmaCorrelationTypeError": ("correlation", "type"),
    "SigmaRuleNotFoundError": ("correlation", "rules"),
}


@dataclass
class LoadedRule:
    """A parsed document before compilation, with what lint reports about it."""

    doc: RuleDocument
    normalized: NormalizedRule
    sigma: SigmaRule | SigmaCorrelationRule | SigmaFilter


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[CompiledCorrelation] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    loaded: list[LoadedRule] = field(default_factory=list)

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.severity == "warning"]


def _message(error: BaseException) -> str:
    if isinstance(error, SigmaError) and error.args:
        return str(error.args[0])
    return str(error)


def _detection_keys(doc: RuleDocument):
    """Yield (key path, key, value) of every field item in the rule's detection."""
    detection = doc.data.get("detection") if isinstance(doc.data, dict) else None
    if not isinstance(detection, dict):
        return
    for name, definition in detection.items():
        if name in ("condition", "timeframe"):
            continue
        items = definition if isinstance(definition, list) else [definition]
        for index, item in enumerate(items):
            prefix = ("detection", name, index) if isinstance(definition, list) else (
                "detection", name)
            if isinstance(item, dict):
                for key, value in item.items():
                    yield (*prefix, key), key, value


def item_failures(doc: RuleDocument) -> list[tuple[int, str]]:
    """(line, reason) of every detection item that fails to parse on its own.

    pySigma stops at the first bad item of a rule; probing each item finds them all.
    """
    failing: list[tuple[int, str]] = []
    for path, key, value in _detection_keys(doc):
        try:
            SigmaDetectionItem.from_mapping(spec_key(key) if isinstance(key, str) else key, value)
        except SigmaError as e:
            failing.append((doc.line_of(*path), _message(e)))
    return failing


def _detection_line(doc: RuleDocument, message: str) -> int | None:
    """The line of the detection item that fails to parse on its own with ``message``."""
    failing = item_failures(doc)
    for line, reason in failing:
        if reason == message:
            return line
    if failing:
        return failing[0][0]
    if "placeholder" in message.lower():
        for path, key, _ in _detection_keys(doc):
            if isinstance(key, str) and "expand" in key.split("|")[1:]:
                return doc.line_of(*path)
    return None


def locate(doc: RuleDocument, error: BaseException) -> int:
    keys = _ERROR_KEYS.get(type(error).__name__)
    if keys is not None and type(error).__name__ != "SigmaModifiedError":
        return doc.line_of(*keys)
    line = _detection_line(doc, _message(error))
    if line is not None:
        return line
    if keys is not None:
        return doc.line_of(*keys)
    return doc.line


class Loader:
    def __init__(self, expand_placeholders: dict[str, Any] | None = None) -> None:
        self.placeholders = dict(expand_placeholders or {})
        self.result = RuleSet()

    def problem(self, path: str, line: int | None, message: str, severity: str = "error") -> None:
        self.result.problems.append(RuleProblem(path, line, message, severity))

    def load_paths(self, paths: list[str | Path]) -> RuleSet:
        files, missing = rule_files(list(paths))
        for path in missing:
            self.problem(path, None, "no such file or directory")
        documents: list[RuleDocument] = []
        for file in files:
            documents.extend(self._read(file))
        return self.load_documents(documents)

    def load_text(self, text: str, path: str = "<rules>") -> RuleSet:
        return self.load_documents(self._parse(text, path))

    def _read(self, file: Path) -> list[RuleDocument]:
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            self.problem(str(file), None, f"not UTF-8 text ({e.reason} at byte {e.start})")
            return []
        except OSError as e:
            self.problem(str(file), None, f"cannot read: {e.strerror}")
            return []
        return self._parse(text, str(file))

    def _parse(self, text: str, path: str) -> list[RuleDocument]:
        try:
            return list(parse_documents(text, path))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else None
            self.problem(path, line, f"invalid YAML: {e.problem or e.context}")
        except yaml.YAMLError as e:
            self.problem(path, None, f"invalid YAML: {e}")
        return []

    # -- parsing -----------------------------------------------------------------------------

    def load_documents(self, documents: list[RuleDocument]) -> RuleSet:
        loaded: list[LoadedRule] = []
        for doc in documents:
            item = self._parse_document(doc)
            if item is not None:
                loaded.append(item)
        self.result.loaded = loaded
        self._check_duplicates(loaded)
        collection = SigmaCollection(
            [item.sigma for item in loaded], resolve_references=False, collect_filters=True
        )
        filters = [item for item in loaded if isinstance(item.sigma, SigmaFilter)]
        if filters:
            try:
                collection.apply_filters([f.sigma for f in filters])  # type: ignore[misc]
            except SigmaError as e:
                self.problem(filters[0].doc.path, filters[0].doc.line, _message(e))
        # apply_filters replaces filtered rules with new objects: keep ours in step.
        for original, current in zip(
            [i for i in loaded if not isinstance(i.sigma, SigmaFilter)], collection.rules,
            strict=True,
        ):
            original.sigma = current
        correlations_ok: list[LoadedRule] = []
        for item in loaded:
            if isinstance(item.sigma, SigmaCorrelationRule):
                try:
                    item.sigma.resolve_rule_references(collection)
                    correlations_ok.append(item)
                except SigmaError as e:
                    self.problem(item.doc.path, locate(item.doc, e), _message(e))
        compiled: dict[int, CompiledRule | CompiledCorrelation] = {}
        for item in loaded:
            if isinstance(item.sigma, SigmaRule):
                rule = self._compile_rule(item)
                if rule is not None:
                    compiled[id(item.sigma)] = rule
                    self.result.rules.append(rule)
        for item in self._correlation_order(correlations_ok):
            correlation = self._compile_correlation(item, compiled)
            if correlation is not None:
                compiled[id(item.sigma)] = correlation
                self.result.correlations.append(correlation)
        return self.result

    def _parse_document(self, doc: RuleDocument) -> LoadedRule | None:
        if not isinstance(doc.data, dict):
            self.problem(doc.path, doc.line, "a rule document must be a mapping")
            return None
        if "action" in doc.data:
            self.problem(doc.path, doc.line_of("action"),
                         "collection actions (global, repeat, reset) are not supported: "
                         "write each rule in full")
            return None
        normalized = normalize(doc)
        for line, message in normalized.warnings:
            self.problem(doc.path, line, message, "warning")
        source = SigmaRuleLocation(Path(doc.path), doc.line)
        data = normalized.data
        try:
            if "correlation" in data:
                sigma: Any = SigmaCorrelationRule.from_dict(data, collect_errors=True, source=source)
            elif "filter" in data:
                sigma = SigmaFilter.from_dict(data, collect_errors=True, source=source)
            else:
                sigma = SigmaRule.from_dict(data, collect_errors=True, source=source)
        except SigmaError as e:
            self.problem(doc.path, locate(doc, e), _message(e))
            return None
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            self.problem(doc.path, doc.line, f"malformed rule: {e}")
            return None
        if sigma.errors:
            reported: set[tuple[int, str]] = set()
            for error in sigma.errors:
                found = [(locate(doc, error), _message(error))]
                if type(error).__name__ not in _ERROR_KEYS:
                    found = item_failures(doc) or found
                for line, message in found:
                    if (line, message) not in reported:
                        reported.add((line, message))
                        self.problem(doc.path, line, message)
            return None
        if isinstance(sigma, SigmaRule):
            warning = logsource_warning(sigma.logsource)
            if warning:
                self.problem(doc.path, doc.line_of("logsource"), warning, "warning")
        return LoadedRule(doc, normalized, sigma)

    def _check_duplicates(self, loaded: list[LoadedRule]) -> None:
        seen: dict[str, RuleDocument] = {}
        for item in loaded:
            for key in {str(item.sigma.id) if item.sigma.id else None, item.sigma.name}:
                if key is None:
                    continue
                if key in seen:
                    other = seen[key]
                    self.problem(item.doc.path, item.doc.line_of("id"),
                                 f"rule id or name '{key}' is also used at "
                                 f"{other.path}:{other.line}")
                else:
                    seen[key] = item.doc

    @staticmethod
    def _correlation_order(items: list[LoadedRule]) -> list[LoadedRule]:
        """Correlations after the correlations they refer to."""
        ordered: list[LoadedRule] = []
        placed: set[int] = set()
        by_id = {id(i.sigma): i for i in items}

        def place(item: LoadedRule, depth: int = 0) -> None:
            if id(item.sigma) in placed or depth > len(items):
                return
            for ref in item.sigma.referenced_rules:  # type: ignore[union-attr]
                inner = by_id.get(id(ref.rule))
                if inner is not None:
                    place(inner, depth + 1)
            placed.add(id(item.sigma))
            ordered.append(item)

        for item in items:
            place(item)
        return ordered

    # -- compiling ---------------------------------------------------------------------------

    def _metadata(self, item: LoadedRule) -> tuple[dict[str, Any] | None, int | None, bool]:
        action, window, errors = parse_block(item.normalized.data.get("atlasgate"))
        for key, message in errors:
            self.problem(item.doc.path, item.doc.line_of("atlasgate", key) if key else
                         item.doc.line_of("atlasgate"), message)
        return action, window, not errors

    def _compile_rule(self, item: LoadedRule) -> CompiledRule | None:
        rule: SigmaRule = item.sigma  # type: ignore[assignment]
        doc = item.doc
        action, explicit_window, ok = self._metadata(item)
        window = item.normalized.window or explicit_window
        try:
            self._resolve_placeholders(rule)
            apply_legacy_comparisons(rule)
            compiler = Compiler(window_label(window) if window else None)
            trees = [condition.parsed for condition in rule.detection.parsed_condition]
            check = generate(compiler, trees)
        except (SigmaError, UnsupportedValue) as e:
            self.problem(doc.path, locate(doc, e), _message(e))
            return None
        except (RecursionError, SyntaxError, MemoryError):
            self.problem(doc.path, doc.line_of("detection", "condition"),
                         "condition is nested too deeply to evaluate")
            return None
        if not ok:
            return None
        required = frozenset.intersection(*(required_fields(t) for t in trees))
        if window:
            required = required - WINDOWED_FIELDS
        tags = item.normalized.tags
        return CompiledRule(
            key=item.normalized.key or str(rule.id or rule.title),
            name=rule.name,
            title=rule.title or item.normalized.key,
            level=rule.level.name.lower() if rule.level else "medium",
            techniques=tuple(tags.techniques),
            tactics=tuple(tags.tactics),
            logsource=rule.logsource,
            check=check,
            required=required,
            fields=frozenset(referenced_fields(trees)),
            window=window,
            action=action,
            path=doc.path,
            line=doc.line,
            sigma=rule,
            legacy=item.normalized.legacy,
            output=rule._output,
        )

    def _resolve_placeholders(self, rule: SigmaRule) -> None:
        if not _has_placeholders(rule):
            return
        pipeline = ProcessingPipeline(
            items=[ProcessingItem(ValueListPlaceholderTransformation())],
            vars=self.placeholders,
        )
        pipeline.apply(rule)

    def _compile_correlation(
        self, item: LoadedRule, compiled: dict[int, CompiledRule | CompiledCorrelation]
    ) -> CompiledCorrelation | None:
        rule: SigmaCorrelationRule = item.sigma  # type: ignore[assignment]
        doc = item.doc
        action, _, ok = self._metadata(item)
        referenced: list[CompiledRule | CompiledCorrelation] = []
        for ref in rule.referenced_rules:
            target = compiled.get(id(ref.rule))
            if target is None:
                self.problem(doc.path, doc.line_of("correlation", "rules"),
                             f"referenced rule '{ref.reference}' failed to load")
                return None
            referenced.append(target)
        if not ok:
            return None
        condition = rule.condition
        op = threshold = value_field = percentile = extended = None
        if isinstance(condition, SigmaCorrelationCondition):
            op = condition.op.name.lower()
            threshold = float(condition.count)
            fieldref = condition.fieldref
            value_field = fieldref[0] if isinstance(fieldref, list) and fieldref else fieldref
            percentile = condition.percentile
        elif isinstance(condition, SigmaExtendedCorrelationCondition):
            extended = condition.parsed
        keys = {id(ref.rule): target.key for ref, target in zip(
            rule.referenced_rules, referenced, strict=True)}
        aliases: dict[str, dict[str, str]] = {}
        for alias in rule.aliases:
            mapping: dict[str, str] = {}
            for ref, fieldname in alias.mapping.items():
                target_rule = getattr(ref, "rule", None)
                if target_rule is not None and id(target_rule) in keys:
                    mapping[keys[id(target_rule)]] = fieldname
                else:
                    mapping[ref.reference] = fieldname
            aliases[alias.alias] = mapping
        tags = item.normalized.tags
        correlation = CompiledCorrelation(
            key=item.normalized.key or str(rule.id or rule.title),
            name=rule.name,
            title=rule.title or item.normalized.key,
            level=rule.level.name.lower() if rule.level else "medium",
            techniques=tuple(tags.techniques),
            tactics=tuple(tags.tactics),
            type=str(rule.type.name.lower()),
            rules=tuple(t.key for t in referenced),
            references={ref.reference: t.key for ref, t in zip(
                rule.referenced_rules, referenced, strict=True)},
            timespan=rule.timespan.seconds,
            group_by=tuple(rule.group_by or ()),
            aliases=aliases,
            op=op,
            threshold=threshold,
            value_field=value_field,
            percentile=percentile,
            extended=extended,
            action=action,
            path=doc.path,
            line=doc.line,
            sigma=rule,
            output=rule._output,
        )
        if not correlation.techniques:
            correlation.techniques = tuple(dict.fromkeys(
                t for target in referenced for t in target.techniques))
            correlation.tactics = tuple(dict.fromkeys(
                t for target in referenced for t in target.tactics))
        for target in referenced:
            target.correlations.append(correlation)
        return correlation


def _detection_items(rule: SigmaRule) -> Iterator[SigmaDetectionItem]:
    for detection in rule.detection.detections.values():
        stack: list[Any] = [detection]
        while stack:
            node = stack.pop()
            if isinstance(node, SigmaDetection):
                stack.extend(node.detection_items)
            else:
                yield node


def _has_placeholders(rule: SigmaRule) -> bool:
    for item in _detection_items(rule):
        for value in item.value:
            values = value.values if isinstance(value, SigmaExpansion) else [value]
            for v in values:
                s = v.regexp if isinstance(v, SigmaRegularExpression) else v
                if isinstance(s, SigmaString) and any(isinstance(p, Placeholder) for p in s.s):
                    return True
    return False


def apply_legacy_comparisons(rule: SigmaRule) -> None:
    """Turn unmodified ``'>50'``-style strings into numeric comparisons, in place."""
    for node in _detection_items(rule):
        if node.modifiers or node.field is None:
            continue
        changed = False
        values = []
        for value in node.value:
            parsed = None
            if isinstance(value, SigmaString) and not value.contains_special():
                parsed = parse_comparison(value.original)
            if parsed is None:
                values.append(value)
                continue
            op, number = parsed
            values.append(SigmaCompareExpression(SigmaNumber(number), _OPERATORS[op]))
            changed = True
        if changed:
            node.value = values
            node.disable_conversion_to_plain()
