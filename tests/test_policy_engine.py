"""The policy engine: strongest action wins, constraints combine, rules read only what they need."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlasgate.config.load import ConfigErrors, ConfigOrigin, build_config
from atlasgate.errors import PolicyError
from atlasgate.event import Event
from atlasgate.policy.analysis import field_chains, method_guard
from atlasgate.policy.decision import Action
from atlasgate.policy.load import load_policy


def policy(*rules: dict):  # type: ignore[no-untyped-def,type-arg]
    config = build_config({"policy": {"include_defaults": False, "rules": list(rules)}},
                          ConfigOrigin(None, Path.cwd(), None))
    return load_policy(config)


def rule(id: str, condition: str, action: str = "LOG", **kw: object) -> dict:  # type: ignore[type-arg]
    return {"id": id, "condition": condition, "action": action, **kw}


def test_strongest_action_wins_and_all_matches_are_reasons() -> None:
    p = policy(rule("log", "api.request_count > 1", description="busy"),
               rule("block", "api.request_count > 5", "BLOCK", atlas=["AML.T0029"]),
               rule("quiet", "api.request_count > 100"))
    decision = p.decide(Event({"api.method": "chat", "api.request_count": 10}))
    assert decision.action is Action.BLOCK
    assert decision.rule == "block"
    assert decision.matched == ("log", "block")
    assert decision.reasons == ("log: busy", "block")
    assert decision.techniques == ("AML.T0029",)


def test_no_match_is_allow_with_a_reason() -> None:
    decision = policy(rule("x", "api.request_count > 5")).decide(Event({"api.request_count": 1}))
    assert decision.action is Action.ALLOW
    assert decision.rule is None
    assert decision.reasons == ("no rule matched",)


def test_constraints_of_all_constrain_rules_combine_strictest_first() -> None:
    p = policy(rule("a", "true", "CONSTRAIN", constraint={"cap_max_tokens": 500, "round": 3}),
               rule("b", "true", "CONSTRAIN", constraint={"cap_max_tokens": 100, "top1": True}))
    decision = p.decide(Event({}))
    assert decision.constraints == {"cap_max_tokens": 100, "round": 3, "top1": True}


def test_a_missing_field_means_the_rule_does_not_apply() -> None:
    p = policy(rule("ml", "ml.instance_count > 5", "BLOCK"),
               rule("api", "api.nothing_here > 5", "BLOCK"))
    assert p.decide(Event({"api.method": "chat"})).action is Action.ALLOW


def test_a_type_error_in_a_condition_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="rule typed"):
        policy(rule("typed", "llm.prompt > 5")).decide(Event({"llm.prompt": "text"}))


def test_rules_guarded_by_method_are_not_evaluated_for_other_methods() -> None:
    p = policy(rule("predict-only", 'api.method == "predict" && llm.prompt > 5', "BLOCK"),
               rule("any", "api.request_count > 1"))
    # On a chat Event the predict rule would raise a type error if it ran.
    decision = p.decide(Event({"api.method": "chat", "llm.prompt": "x", "api.request_count": 2}))
    assert decision.matched == ("any",)
    with pytest.raises(PolicyError):
        p.decide(Event({"api.method": "predict", "llm.prompt": "x"}))


def test_map_valued_and_method_call_fields_are_read() -> None:
    p = policy(rule("types", '"email" in detection.pii.types', "CONSTRAIN",
                    constraint={"redact": "findings"}),
               rule("size", "llm.prompt.size() > 3", "LOG"),
               rule("whole", 'has(detection.secrets) && detection.secrets.count > 0', "BLOCK"))
    decision = p.decide(Event({"detection.pii.types": ["email"], "llm.prompt": "long text",
                               "detection.secrets.count": 0}))
    assert decision.matched == ("types", "size")


def test_field_chains_ignore_string_literals() -> None:
    chains = field_chains('api.method == "llm.prompt" && llm.max_tokens > 1', ("api", "llm"))
    assert chains == ("api.method", "llm.max_tokens")


@pytest.mark.parametrize(("condition", "methods"), [
    ('api.method == "predict" && api.request_count > 5', {"predict"}),
    ('api.method in ["chat", "completion"] && llm.max_tokens > 1', {"chat", "completion"}),
    ('api.method == "predict"', {"predict"}),
    ('api.method == "predict" && (a > 1 || b)', {"predict"}),
    ('api.method == "predict" && a > 1 || b', None),
    ('api.method == "predict" && a ? b : c', None),
    ('a > 1 && api.method == "predict"', None),
    ('api.method in [x, "chat"] && a', None),
])
def test_method_guard_is_only_trusted_when_it_dominates(condition: str, methods: set[str] | None) -> None:
    found = method_guard(condition)
    assert (set(found) if found is not None else None) == methods


def test_broken_rules_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    from atlasgate.policy.load import load_policy_file

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - id: a\n    condition: 'api.x >'\n    action: LOG\n"
                    "  - id: b\n    condition: 'true'\n    action: CONSTRAIN\n"
                    "    constraint: {cap_tokens: 5}\n"
                    "  - id: c\n    condition: 'true'\n    action: LOG\n"
                    "  - id: c\n    condition: 'false'\n    action: LOG\n")
    with pytest.raises(ConfigErrors) as err:
        load_policy_file(str(path))
    text = str(err.value)
    assert f"{path}:3: rule a: invalid CEL condition" in text
    assert f"{path}:8: rule b: unknown constraint 'cap_tokens'" in text
    assert f"{path}:12: rule id 'c' is already defined at {path}:9" in text


@pytest.mark.parametrize("text", ["", "\n  \n", "# rules will go here\n"])
def test_an_empty_policy_file_is_an_error_not_a_policy_without_rules(tmp_path: Path,
                                                                       text: str) -> None:
    from atlasgate.policy.load import load_policy_file

    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigErrors, match="the policy file is empty; write 'rules: \\[\\]'"):
        load_policy_file(str(path))
    path.write_text("rules: []\n")
    assert load_policy_file(str(path)).rules == ()
