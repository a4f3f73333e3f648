"""The direct evaluator answers exactly as CEL does, or hands the rule to CEL."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlasgate.errors import PolicyError
from atlasgate.event import Event, nest
from atlasgate.policy.decision import Action, Severity
from atlasgate.policy.engine import PolicySet
from atlasgate.policy.load import load_policy_file
from atlasgate.policy.rules import Rule, compile_condition
from atlasgate.policy.subset import ABSENT, Fallback, compile_subset, names_read, shadowed
from cel_strategies import boolean_conditions

FIELDS = ("x", "y", "y.z", "y.w", "q.r.s", "@t")  # "y" also names the map of y.z and y.w
NAMES = ("x", "y", "y.z", "y.w", "q.r", "q.r.s", "t")  # "t" is how CEL reads "@t"
class Kind(StrEnum):
    A = "a"


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACKS = sorted((ROOT / "src" / "atlasgate" / "policy" / "defaults").glob("*.yaml"))
EXAMPLES = ROOT / "examples"


def rule_for(condition: str) -> Rule:
    compiled = compile_condition(condition)
    return Rule("r", "", condition, Action.BLOCK, Severity.HIGH, (), {}, "request", "test",
                compiled.program, compiled.roots, compiled.chains, compiled.methods,
                compiled.direct)


def cel_answer(rule: Rule, flat: dict[str, Any]) -> bool | str:
    try:
        return rule.matches(nest(flat))
    except PolicyError:
        return "error"


def direct_answer(rule: Rule, flat: dict[str, Any]) -> bool | None:
    """True/False as the engine reads it, or None when the rule goes to CEL."""
    assert rule.direct is not None
    try:
        result = rule.direct(flat)
    except Fallback:
        return None
    if result is ABSENT and not names_read(rule.direct).isdisjoint(shadowed(flat)):
        return None
    return result is True


scalars = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.0, 0.5, 1.0, 2.5, -1.0, 1e3, float("nan"), float(2**53), 2.0**63]),
    st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63 - 1]),
    st.sampled_from(["a", "b", "", "ab"]),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.just({"k": 1}),
                   st.just(2**63 + 1))
literals = st.one_of(
    st.sampled_from(["true", "false", "null", "0", "1", "2", "-1", "0.5", "1.0", "2.5", "1e3",
                     "'a'", '"b"', "''", "9007199254740992.0", "9223372036854775807"]),
)
fields = st.sampled_from(NAMES)
operands = st.one_of(fields, literals)
relations = st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", operands,
              st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), operands),
    st.builds(lambda a, items: f"{a} in [{', '.join(items)}]", operands,
              st.lists(literals, max_size=3)),
    st.builds(lambda a, b: f"{a} in {b}", operands, fields),
    fields,
    literals,
)
conditions = boolean_conditions(relations, 5)
def _unambiguous(flat: dict[str, Any]) -> bool:
    """No field is also the map of another (``y`` and ``y.z``): nesting would pick one."""
    return not any(other.startswith(name + ".") for name in flat for other in flat)


events = st.dictionaries(st.sampled_from(FIELDS), values, max_size=len(FIELDS)).filter(_unambiguous)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, events)
def test_direct_answers_agree_with_cel(condition: str, flat: dict[str, Any]) -> None:
    rule = rule_for(condition)
    assert rule.direct is not None, condition
    direct = direct_answer(rule, flat)
    if direct is None:
        return  # handed to CEL: nothing to compare
    assert cel_answer(rule, flat) == direct, (condition, flat)


@pytest.mark.parametrize(("condition", "flat"), [
    ("y != 1", {"y.z": 1}),  # y is a map in CEL
    ("!(y == 1)", {"y.w": "a"}),
    ("timestamp != ''", {"@timestamp": "2026-01-01"}),  # CEL reads @timestamp as timestamp
    ("x > 1.0", {"x": float("nan")}),  # CEL refuses to order NaN
    ("x == 9007199254740992.0", {"x": 2**53 + 1}),  # CEL compares as doubles
    ("x > 9223372036854775807", {"x": 2.0**63}),
])
def test_answers_only_cel_gives_exactly_go_to_cel(condition: str, flat: dict[str, Any]) -> None:
    rule = rule_for(condition)
    assert direct_answer(rule, flat) is None
    policy = PolicySet((rule,), "r")
    reference = PolicySet((replace(rule, direct=None),), "r")
    try:
        expected: Any = reference.decide(Event(dict(flat)), "request", "d").action
    except PolicyError:
        expected = PolicyError
    try:
        actual: Any = policy.decide(Event(dict(flat)), "request", "d").action
    except PolicyError:
        actual = PolicyError
    assert actual == expected


@pytest.mark.parametrize("condition", [
    "size(x) > 1", "x.exists(v, v > 1)", "x + 1 > 2", "x[0] == 1", "x ? true : false",
    "x == 1u", "x == b'a'", "x == r'a'", "x == 'a\\'b'", "has(y.z)", "x < y < 1",
    "x == {}", "x.startsWith('a')", "1.", "x == 9223372036854775808",
])
def test_conditions_beyond_the_subset_run_on_cel_alone(condition: str) -> None:
    assert compile_subset(condition) is None


def test_an_absent_side_is_absorbed_as_cel_absorbs_it() -> None:
    assert rule_for("x > 1 && y.z").direct({"y.z": False}) is False  # type: ignore[misc]
    assert rule_for("y.z || x > 1").direct({"y.z": True}) is True  # type: ignore[misc]
    assert rule_for("x > 1 && y.z").direct({"y.z": True}) is ABSENT  # type: ignore[misc]
    assert rule_for("!(x > 1)").direct({}) is ABSENT  # type: ignore[misc]


def test_values_cel_types_differently_go_to_cel() -> None:
    direct = rule_for("x > 1").direct
    assert direct is not None
    for value in (True, None, "a", [1], {"k": 1}, 2**63):
        with pytest.raises(Fallback):
            direct({"x": value})
    assert direct({"x": 1.5}) is True
    assert rule_for("x == true").direct({"x": 1}) is False  # type: ignore[misc]
    assert rule_for("x == 1").direct({"x": 1.0}) is True  # type: ignore[misc]
    assert rule_for("x == 'a'").direct({"x": Kind.A}) is True  # type: ignore[misc]
    assert rule_for("x == x").direct({"x": float("nan")}) is False  # type: ignore[misc]


def test_a_field_inside_a_map_valued_field_goes_to_cel() -> None:
    direct = rule_for("y.z == 1").direct
    assert direct is not None
    with pytest.raises(Fallback):
        direct({"y": {"z": 1}})
    assert direct({"y.w": 1}) is ABSENT


@pytest.mark.parametrize("path", DEFAULT_PACKS, ids=lambda p: p.name)
def test_every_default_rule_runs_without_cel_conversion(path: Path) -> None:
    rules = load_policy_file(str(path)).rules
    assert rules
    assert [r.id for r in rules if r.direct is None] == []


def test_a_policy_mixing_direct_and_cel_rules_decides_as_cel_alone() -> None:
    policy = load_policy_file(str(EXAMPLES / "policies.yaml"))
    assert any(r.direct is None for r in policy.rules)  # method calls: CEL only
    assert any(r.direct is not None for r in policy.rules)
    cel_only = PolicySet(tuple(replace(r, direct=None) for r in policy.rules), policy.revision)
    records = [orjson.loads(line) for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines()
               if line.strip()]
    assert records
    for record in records:
        record.pop("expect", None)
        for phase in ("request", "response"):
            mixed = policy.decide(Event(dict(record)), phase, "d")
            reference = cel_only.decide(Event(dict(record)), phase, "d")
            assert (mixed.action, mixed.matched) == (reference.action, reference.matched), record
