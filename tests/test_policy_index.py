"""The policy index settles rules without evaluating them, and decides exactly as evaluating every rule."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlasgate.event import Event
from atlasgate.policy.decision import Action, Severity
from atlasgate.policy.engine import PolicySet
from atlasgate.policy.index import Layout
from atlasgate.policy.load import load_policy_file
from atlasgate.policy.rules import Rule, compile_condition
from atlasgate.policy.subset import compile_subset, guard_of, names_read
from cel_strategies import boolean_conditions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = tuple(rule for path in sorted((ROOT / "src/atlasgate/policy/defaults").glob("*.yaml"))
                      for rule in load_policy_file(str(path)).rules)


def make_rule(index: int, condition: str, action: Action = Action.BLOCK,
              severity: Severity = Severity.HIGH, constraint: dict[str, Any] | None = None) -> Rule:
    compiled = compile_condition(condition)
    return Rule(f"r{index}", f"rule {index}" if index % 2 else "", condition, action, severity,
                (f"AML.T00{index % 3}",), constraint or {}, "request", "test", compiled.program,
                compiled.roots, compiled.chains, compiled.methods, compiled.direct)


def outcome(policy: PolicySet, flat: dict[str, Any], phase: str = "request") -> Any:
    """Everything a decision carries but its id, or the error; on a copy of the fields,
    as building CEL's nested view may write into map values."""
    try:
        decision = policy.decide(Event(copy.deepcopy(flat)), phase, "d")
    except Exception as exc:  # a PolicyError, or a map as api.method (unhashable)
        return type(exc), str(exc)
    return (decision.action, decision.rule, decision.reasons, decision.techniques,
            decision.constraints, decision.matched, decision.policy_revision, decision.phase)


def same_shape(data: st.DataObject, flat: dict[str, Any], values: st.SearchStrategy[Any]
               ) -> dict[str, Any]:
    """Another Event with the same field names in the same order: it reuses the layout."""
    return {name: data.draw(values) for name in flat}


def check(rules: tuple[Rule, ...], events: list[dict[str, Any]], phases: tuple[str, ...]) -> None:
    indexed = PolicySet(rules, "r")  # fresh: the layouts of earlier examples are not kept
    reference = PolicySet(rules, "r", indexed=False)
    for flat in events:
        for phase in phases:
            assert outcome(indexed, flat, phase) == outcome(reference, flat, phase), (phase, flat)


# --- values that the index must not misread -------------------------------------------------

THRESHOLDS = sorted({g[2] for r in DEFAULT_RULES if r.direct and (g := guard_of(r.direct))}
                    | {0, 0.5, 2, 1000})
EDGES = [-0.0, math.inf, -math.inf, math.nan, 2**53, 2**53 + 1, -(2**53) - 1, float(2**53),
         2.0**63, 2**63 - 1, 2**63, 2**64 + 1, -(2**63) - 1]


def near(n: int | float) -> list[int | float]:
    """``n`` as int and double, and its neighbours on either side."""
    if isinstance(n, int):
        return [n, float(n), n - 1, n + 1]
    return [n, math.nextafter(n, -math.inf), math.nextafter(n, math.inf)]


NUMBER_VALUES = [v for n in THRESHOLDS for v in near(n)] + EDGES * 2 + [-3, 1, 3]
numbers = st.sampled_from(NUMBER_VALUES)
scalars = st.one_of(numbers, st.booleans(), st.none(), st.sampled_from(["", "a", "0.9", "chat"]))
# A fresh map each time: CEL's nested view writes into a map that shares a place with
# another field, and one map in two places would become a cycle.
values = st.one_of(scalars, scalars, st.lists(scalars, max_size=2),
                   st.dictionaries(st.sampled_from(["k", "z", "s"]), numbers, max_size=2))

# --- the shipped packs ----------------------------------------------------------------------

PACK_FIELDS = sorted({n for r in DEFAULT_RULES if r.direct for n in names_read(r.direct)}
                     - {"api.method"})
# Names that share a place in CEL's nested Event with a field a rule reads.
CROWDING = ["detection", "detection.injection", "detection.pii.score.x", "@detection.leakage.count",
            "api", "@llm.max_tokens"]
METHODS = st.sampled_from(["chat", "completion", "predict", "embedding", 5, None])


@st.composite
def pack_events(draw: st.DrawFn, data: st.DataObject) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(PACK_FIELDS + CROWDING), unique=True,
                          max_size=len(PACK_FIELDS)))
    first: dict[str, Any] = {}
    if draw(st.booleans()):
        first["api.method"] = draw(METHODS)
    first.update({name: draw(values) for name in names})
    return [first, same_shape(data, first, values)]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_default_pack_decides_as_without_the_index(data: st.DataObject) -> None:
    check(DEFAULT_RULES, data.draw(pack_events(data)), ("request", "response"))


# --- generated rule sets --------------------------------------------------------------------

FIELDS = ("x", "y", "y.z", "q.r", "q.r.s", "t", "@t", "n")  # "y" is also the map of y.z
NAMES = ("x", "y", "y.z", "q.r", "q.r.s", "t", "n")
NUMBERS = ["0", "1", "2", "-1", "0.5", "2.5", "1e3", "1e308", "9007199254740992",
           "9007199254740993", "9223372036854775807", "9007199254740992.0"]
fields = st.sampled_from(NAMES)
literals = st.sampled_from(["true", "false", "null", "'a'", *NUMBERS])
comparisons = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
guards = st.one_of(
    st.builds(lambda f, op, n: f"{f} {op} {n}", fields, comparisons, st.sampled_from(NUMBERS)),
    st.builds(lambda n, op, f: f"{n} {op} {f}", st.sampled_from(NUMBERS), comparisons, fields),
)
relations = st.one_of(
    guards,
    st.builds(lambda a, op, b: f"{a} {op} {b}", st.one_of(fields, literals), comparisons,
              st.one_of(fields, literals)),
    st.builds(lambda a, items: f"{a} in [{', '.join(items)}]", fields, st.lists(literals, max_size=3)),
    fields,
    st.sampled_from(["size(x) > 0", "x.size() > 1", "has(y.z)"]),  # beyond the subset: CEL alone
)
conditions = boolean_conditions(
    relations, 4,
    lambda inner: st.builds(lambda g, a: f"{g} && ({a})", guards, inner),
    lambda inner: st.builds(lambda a, g: f"({a}) && {g}", inner, guards),
)
rule_sets = st.lists(
    st.tuples(conditions, st.sampled_from(list(Action)), st.sampled_from(list(Severity)),
              st.sampled_from([{}, {"top1": True}, {"cap_max_tokens": 100}])),
    min_size=1, max_size=8,
).map(lambda specs: tuple(make_rule(i, c, a, s, k if a is Action.CONSTRAIN else {})
                          for i, (c, a, s, k) in enumerate(specs)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets, st.data())
def test_generated_rule_sets_decide_as_without_the_index(rules: tuple[Rule, ...],
                                                         data: st.DataObject) -> None:
    first = data.draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=len(FIELDS)))
    check(rules, [first, same_shape(data, first, values)], ("request",))


# --- what the index settles -----------------------------------------------------------------

@pytest.mark.parametrize(("condition", "guard"), [
    ("x > 1", ("x", ">", 1)),
    ("0.9 <= x && y", ("x", ">=", 0.9)),
    ('a == "b" && (x < 0.5 && y >= 2)', ("y", ">=", 2)),  # a lower bound is preferred
    ("x > 2 && x < 5", ("x", ">", 2)),
    ("-1.5 > q.r", ("q.r", "<", -1.5)),
    ("x > 9007199254740993", None),  # beyond 2**53 an int and a double compare apart
    ("x || y > 1", None),
    ("!(x > 1)", None),
    ("x > y", None),
    ("x > true", None),
    ("x == 1", None),
])
def test_a_guard_is_a_number_bound_on_a_field_the_whole_condition_needs(
        condition: str, guard: tuple[str, str, float] | None) -> None:
    direct = compile_subset(condition)
    assert direct is not None
    assert guard_of(direct) == guard


def clean_chat(**fields: Any) -> dict[str, Any]:
    flat: dict[str, Any] = {"api.method": "chat", "api.request_count": 5, "api.request_count_1m": 5,
                            "api.request_rate": 5.0}
    flat.update(fields)
    return flat


def test_clean_traffic_leaves_only_rules_the_index_cannot_settle() -> None:
    plan = PolicySet(DEFAULT_RULES, "r")._plan("request", "chat")
    # Without content fields the content rules read nothing the Event has.
    flat = clean_chat()
    assert [r.id for r in Layout.of(plan.rules, flat).candidates(flat)] == ["core-max-tokens-cap"]
    # With them every score is below its threshold.
    flat = clean_chat(**{f"detection.{d}.score": 0.0 for d in
                         ("injection", "jailbreak", "extraction", "secrets", "pii")},
                      **{"detection.obfuscation.attack_score": 0.0, "detection.obfuscation.score": 0.1,
                         "llm.max_tokens": 100})
    assert [r.id for r in Layout.of(plan.rules, flat).candidates(flat)] == []
    # A score above a threshold, or one the index cannot read as a number, is evaluated.
    for score in (0.95, True, "0.95", math.nan, {"k": 1}):
        flat["detection.injection.score"] = score
        assert "content-injection-block" in [r.id for r in Layout.of(plan.rules, flat).candidates(flat)]


def test_ties_keep_rule_order_among_candidates() -> None:
    rules = (make_rule(0, "x > 5", Action.REVIEW), make_rule(1, "y > 1", Action.REVIEW),
             make_rule(2, "x > 1", Action.REVIEW), make_rule(3, "x >= 0", Action.LOG))
    decision = PolicySet(rules, "r").decide(Event({"x": 10, "y": 2}), "request", "d")
    assert decision.matched == ("r0", "r1", "r2", "r3")
    assert decision.rule == "r0"


def test_past_its_bound_on_shapes_a_plan_evaluates_every_rule() -> None:
    rules = (make_rule(0, "x > 5"), make_rule(1, "y > 5 && x > 1", Action.LOG))
    policy = PolicySet(rules, "r")
    for i in range(300):
        decision = policy.decide(Event({f"f{i}": 1, "x": 6, "y": 6}), "request", "d")
        assert decision.matched == ("r0", "r1")
    assert len(policy._plan("request", None).layouts) == 256


# --- the corners, each of them -------------------------------------------------------------

CORNER_VALUES = [0, 1, 2, -0.0, 0.5, 1.0, 2.0, math.nan, math.inf, -math.inf, True, False, None,
                 "1", [1], {"k": 1}, 2**53, 2**53 + 1, float(2**53), 2**63, 2**64 + 1]
CORNER_CONSTANTS = ["1", "1.0", "0.5", "-0.0", "9007199254740992", "9007199254740992.0",
                    "9223372036854775807"]
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_every_value_against_every_bound_decides_as_without_the_index(op: str) -> None:
    # ``!(w < 1.0)`` with w = 2**53 + 1 goes to CEL (and is true there): the guard after it
    # is then read by CEL, which must agree with the index.
    shapes = ["x {op} {c}", "{c} {flip} x", "!(w < 1.0) && x {op} {c}",
              "x {op} {c} && !(w < 1.0)", "w > 1.0 && x {op} {c}"]
    rules = tuple(make_rule(i, shape.format(op=op, flip=FLIP[op], c=c), Action(i % 5))
                  for i, (shape, c) in enumerate((s, c) for s in shapes for c in CORNER_CONSTANTS))
    events = [{"x": x, "w": w} for x in CORNER_VALUES for w in (2**53 + 1, math.nan, 5)]
    check(rules, events, ("request",))


@pytest.mark.parametrize("flat", [
    {"t": 0, "@t": 5, "w": 2**53 + 1},  # CEL reads the later of t and @t
    {"@t": 5, "t": 0, "w": 2**53 + 1},
    {"y.z": 0, "y": {"z": 5}, "w": 2**53 + 1},  # and the map y over the field y.z
    {"y": {"z": 5}, "y.z": 0, "w": 2**53 + 1},
    {"y.z": 0, "y.z.k": 1, "w": 2**53 + 1},
    {"y": 7, "y.z": 0, "w": 2**53 + 1},
])
def test_a_field_sharing_its_place_in_the_nested_event_is_not_trusted_as_a_guard(
        flat: dict[str, Any]) -> None:
    rules = (make_rule(0, "!(w < 1.0) && t > 1"),  # w goes to CEL, which reads t there
             make_rule(1, "!(w < 1.0) && y.z > 1", Action.LOG),
             make_rule(2, "t > 1 && y.z > 1", Action.REVIEW))
    check(rules, [flat], ("request",))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["<", "<=", ">", ">="]), st.sampled_from(NUMBERS[:8])),
                min_size=1, max_size=10),
       st.sampled_from(NUMBER_VALUES))
def test_guarded_rules_left_are_exactly_those_whose_guard_holds(
        bounds: list[tuple[str, str]], value: Any) -> None:
    rules = tuple(make_rule(i, f"x {op} {c}") for i, (op, c) in enumerate(bounds))
    flat = {"x": value}
    left = [r.id for r in Layout.of(rules, flat).candidates(flat)]
    plain = (type(value) is float and value == value) or (type(value) is int and abs(value) <= 2**53)
    holding = [r.id for r in rules if not plain or r.direct(flat) is True]  # type: ignore[misc]
    assert left == holding
