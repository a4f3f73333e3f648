"""The direct evaluator answers exactly as CEL does, or hands the rule to CEL."""

from __future__ import annotations

from dataclasses import replace
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
from atlasgate.policy.subset import ABSENT, Fallback, compile_subset

FIELDS = ("x", "y.z", "y.w", "q.r.s")
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
        return rule.direct(flat) is True
    except Fallback:
        return None


scalars = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.0, 0.5, 1.0, 2.5, -1.0, 1e3]),
    st.sampled_from(["a", "b", "", "ab"]),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.just({"k": 1}),
                   st.just(2**63 + 1))
literals = st.one_of(
    st.sampled_from(["true", "false", "null", "0", "1", "2", "-1", "0.5", "1.0", "2.5", "1e3",
                     "'a'", '"b"', "''"]),
)
fields = st.sampled_from(FIELDS)
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
conditions = st.recursive(
    relations,
    lambda inner: st.one_of(
        st.builds(lambda a: f"!({a})", inner),
        st.builds(lambda a, b: f"({a}) && ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) || ({b})", inner, inner),
    ),
    max_leaves=5,
)
events = st.dictionaries(fields, values, max_size=len(FIELDS))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, events)
def test_direct_answers_agree_with_cel(condition: str, flat: dict[str, Any]) -> None:
    rule = rule_for(condition)
    assert rule.direct is not None, condition
    direct = direct_answer(rule, flat)
    if direct is None:
        return  # handed to CEL: nothing to compare
    assert cel_answer(rule, flat) == direct, (condition, flat)


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
