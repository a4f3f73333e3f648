"""Collect policy rules from the shipped packs, policy files and inline config.

Every problem is reported with the file and line of the rule, and all of a file's
problems are reported at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib import resources
from typing import Any

from pydantic import ValidationError

from atlasgate.config.load import ConfigErrors, ConfigOrigin, origin_of, read_text
from atlasgate.config.schema import GatewayConfig, RuleSpec
from atlasgate.config.yamlpos import Path as YPath
from atlasgate.config.yamlpos import PositionedYAML, load_yaml
from atlasgate.errors import ConfigError
from atlasgate.policy import constraints
from atlasgate.policy.engine import PolicySet
from atlasgate.policy.rules import Rule, compile_condition


def default_pack_texts() -> list[tuple[str, str]]:
    """(name, YAML text) of every shipped default policy pack, in name order."""
    folder = resources.files("atlasgate.policy") / "defaults"
    packs = [p for p in folder.iterdir() if p.name.endswith((".yaml", ".yml"))]
    return [(f"<default>/{p.name}", p.read_text(encoding="utf-8"))
            for p in sorted(packs, key=lambda p: p.name)]


def load_policy(config: GatewayConfig) -> PolicySet:
    """Build the PolicySet a configuration asks for, or raise ConfigErrors."""
    errors: list[ConfigError] = []
    rules: list[Rule] = []
    digest = hashlib.sha256()
    if config.policy.include_defaults:
        for name, text in default_pack_texts():
            digest.update(text.encode())
            rules.extend(_rules_from_document(load_yaml(text, name), errors))
    for path in config.policy.files:
        text = read_text(path)
        digest.update(text.encode())
        rules.extend(_rules_from_document(load_yaml(text, path), errors))
    origin = origin_of(config)
    inline = [spec.model_dump(mode="json") for spec in config.policy.rules]
    digest.update(repr(inline).encode())
    rules.extend(_compile_inline(config.policy.rules, origin, errors))
    _check_unique(rules, errors)
    if errors:
        raise ConfigErrors(errors)
    return PolicySet(tuple(rules), digest.hexdigest()[:16])


def load_policy_file(path: str) -> PolicySet:
    """One file on its own, as ``atlasgate policy lint`` and ``policy test`` read it."""
    errors: list[ConfigError] = []
    text = read_text(path)
    rules = _rules_from_document(load_yaml(text, path), errors)
    _check_unique(rules, errors)
    if errors:
        raise ConfigErrors(errors)
    return PolicySet(tuple(rules), hashlib.sha256(text.encode()).hexdigest()[:16])


def _rules_from_document(document: PositionedYAML, errors: list[ConfigError]) -> list[Rule]:
    data: Any = document.data
    prefix: YPath = ()
    if isinstance(data, dict) and set(data) <= {"rules", "version"}:
        data, prefix = data.get("rules") or [], ("rules",)
    if data is None:
        # Most often a file cut short by a write still in progress when it was read:
        # taking it as "no rules" would switch the operator's rules off without a word.
        errors.append(ConfigError("the policy file is empty; write 'rules: []' for a policy "
                                  "with no rules", document.source, 1))
        return []
    if not isinstance(data, list):
        errors.append(ConfigError("a policy file is a list of rules (or a mapping with 'rules:')",
                                  document.source, 1))
        return []
    rules = []
    for index, item in enumerate(data):
        path = (*prefix, index)
        rule = _compile_one(item, document, path, errors)
        if rule is not None:
            rules.append(rule)
    return rules


def _compile_one(
    item: Any, document: PositionedYAML, path: YPath, errors: list[ConfigError]
) -> Rule | None:
    def error(reason: str, at: YPath = path) -> None:
        errors.append(ConfigError(reason, document.source, document.line_of(at)))

    if not isinstance(item, dict):
        error("a rule must be a mapping with id, condition and action")
        return None
    try:
        spec = RuleSpec.model_validate(item)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            field = ".".join(str(p) for p in loc)
            rule_id = item.get("id", f"#{path[-1]}")
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            error(f"rule {rule_id}: {field + ': ' if field else ''}{message}", (*path, *loc))
        return None
    return _compile_spec(spec, document.source, lambda key: document.line_of((*path, key)), errors)


def _compile_inline(
    specs: Iterable[RuleSpec], origin: ConfigOrigin, errors: list[ConfigError]
) -> list[Rule]:
    rules = []
    for index, spec in enumerate(specs):
        def line(key: str, index: int = index) -> int | None:
            if origin.document is None:
                return None
            return origin.document.line_of(("policy", "rules", index, key))

        rule = _compile_spec(spec, origin.path or "<config>", line, errors)
        if rule is not None:
            rules.append(rule)
    return rules


def _compile_spec(spec: RuleSpec, source: str, line: Any, errors: list[ConfigError]) -> Rule | None:
    try:
        compiled = compile_condition(spec.condition)
    except ValueError as exc:
        errors.append(ConfigError(f"rule {spec.id}: {exc}", source, line("condition")))
        return None
    try:
        constraint = constraints.validate(spec.constraint)
    except ValueError as exc:
        errors.append(ConfigError(f"rule {spec.id}: {exc}", source, line("constraint")))
        return None
    if not spec.enabled:
        return None
    return Rule(
        id=spec.id,
        description=spec.description,
        condition=spec.condition,
        action=spec.action,
        severity=spec.severity,
        techniques=tuple(spec.atlas),
        constraint=constraint,
        phase=spec.phase,
        source=f"{source}:{line('id') or '?'}",
        program=compiled.program,
        roots=compiled.roots,
        chains=compiled.chains,
        methods=compiled.methods,
        direct=compiled.direct,
    )


def _check_unique(rules: list[Rule], errors: list[ConfigError]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            path, _, line = rule.source.rpartition(":")
            errors.append(ConfigError(
                f"rule id {rule.id!r} is already defined at {seen[rule.id].source}",
                path, int(line) if line.isdigit() else None))
        else:
            seen[rule.id] = rule

