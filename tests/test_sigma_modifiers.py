"""Each piece of Sigma detection syntax, evaluated on flat gateway events."""

from __future__ import annotations

import base64

import pytest

from atlasgate.sigma import SigmaEngine


def fires(detection: str, event: dict, placeholders: dict | None = None) -> bool:
    text = (
        "title: t\nid: 11111111-1111-4111-8111-111111111111\n"
        "logsource: {product: atlasgate}\ndetection:\n"
        + "".join(f"  {line}\n" for line in detection.strip().splitlines())
    )
    engine = SigmaEngine.from_text(text, expand_placeholders=placeholders)
    return bool(engine.evaluate(event, now=0.0))


@pytest.mark.parametrize(("detection", "event", "expected"), [
    # lists are OR, maps are AND, matching ignores case
    ("s:\n  api.model: [a, B]\ncondition: s", {"api.model": "b"}, True),
    ("s:\n  api.model: [a, B]\ncondition: s", {"api.model": "c"}, False),
    ("s:\n  api.model: a\n  user.id: u\ncondition: s", {"api.model": "A", "user.id": "x"}, False),
    # wildcards
    ("s:\n  api.endpoint: '/v1/*:predict'\ncondition: s", {"api.endpoint": "/v1/m:predict"}, True),
    ("s:\n  api.model: 'gp?-4'\ncondition: s", {"api.model": "GPT-4"}, True),
    ("s:\n  api.model: 'gp?-4'\ncondition: s", {"api.model": "gpt--4"}, False),
    ("s:\n  api.model: 'a\\*'\ncondition: s", {"api.model": "a*"}, True),
    ("s:\n  api.model: 'a\\*'\ncondition: s", {"api.model": "ab"}, False),
    # contains / startswith / endswith / all
    ("s:\n  llm.prompt|contains: SECRET\ncondition: s", {"llm.prompt": "a secret b"}, True),
    ("s:\n  llm.prompt|startswith: hi\ncondition: s", {"llm.prompt": "oh hi"}, False),
    ("s:\n  llm.prompt|endswith: hi\ncondition: s", {"llm.prompt": "oh hi"}, True),
    ("s:\n  llm.prompt|contains|all: [a1, b2]\ncondition: s", {"llm.prompt": "b2 a1"}, True),
    ("s:\n  llm.prompt|contains|all: [a1, b2]\ncondition: s", {"llm.prompt": "a1"}, False),
    # cased
    ("s:\n  api.model|cased: Digits\ncondition: s", {"api.model": "digits"}, False),
    ("s:\n  api.model|cased: Digits\ncondition: s", {"api.model": "Digits"}, True),
    # regular expressions and their flags
    ("s:\n  llm.prompt|re: 'ab+c'\ncondition: s", {"llm.prompt": "xxabbbcx"}, True),
    ("s:\n  llm.prompt|re: 'ab+c'\ncondition: s", {"llm.prompt": "ABC"}, False),
    ("s:\n  llm.prompt|re|i: 'ab+c'\ncondition: s", {"llm.prompt": "ABC"}, True),
    ("s:\n  llm.prompt|re|m: '^b$'\ncondition: s", {"llm.prompt": "a\nb\nc"}, True),
    ("s:\n  llm.prompt|re: '^b$'\ncondition: s", {"llm.prompt": "a\nb\nc"}, False),
    ("s:\n  llm.prompt|re|s: 'a.c'\ncondition: s", {"llm.prompt": "a\nc"}, True),
    ("s:\n  llm.prompt|re: 'a.c'\ncondition: s", {"llm.prompt": "a\nc"}, False),
    # cidr
    ("s:\n  client.ip|cidr: 10.1.0.0/16\ncondition: s", {"client.ip": "10.1.200.3"}, True),
    ("s:\n  client.ip|cidr: 10.1.0.0/16\ncondition: s", {"client.ip": "10.2.0.1"}, False),
    ("s:\n  client.ip|cidr: '2001:db8::/32'\ncondition: s", {"client.ip": "2001:db8::7"}, True),
    ("s:\n  client.ip|cidr: 10.1.0.0/16\ncondition: s", {"client.ip": "not-an-ip"}, False),
    # base64, base64offset, utf16 / wide, windash
    ("s:\n  llm.prompt|base64: secret\ncondition: s",
     {"llm.prompt": base64.b64encode(b"secret").decode()}, True),
    *[("s:\n  llm.prompt|base64offset|contains: secret\ncondition: s",
       {"llm.prompt": "x " + base64.b64encode(pad + b"the secret key").decode()}, True)
      for pad in (b"", b" ", b"  ")],
    ("s:\n  llm.prompt|base64offset|contains: secret\ncondition: s",
     {"llm.prompt": base64.b64encode(b"nothing here").decode()}, False),
    ("s:\n  llm.prompt|wide|base64offset|contains: ping\ncondition: s",
     {"llm.prompt": base64.b64encode("run ping now".encode("utf-16le")).decode()}, True),
    ("s:\n  llm.prompt|utf16le|base64offset|contains: ping\ncondition: s",
     {"llm.prompt": base64.b64encode("a ping".encode("utf-16le")).decode()}, True),
    ("s:\n  llm.prompt|utf16be|base64offset|contains: ping\ncondition: s",
     {"llm.prompt": base64.b64encode("a ping".encode("utf-16be")).decode()}, True),
    ("s:\n  llm.prompt|utf16|base64offset|contains: ping\ncondition: s",
     {"llm.prompt": base64.b64encode("ping".encode("utf-16")).decode()}, True),
    ("s:\n  llm.prompt|windash|contains: ' -exec'\ncondition: s", {"llm.prompt": "run /exec"}, True),
    ("s:\n  llm.prompt|windash|contains: ' -exec'\ncondition: s", {"llm.prompt": "run –exec"}, True),
    ("s:\n  llm.prompt|windash|contains: ' -exec'\ncondition: s", {"llm.prompt": "run exec"}, False),
    # exists, null
    ("s:\n  llm.prompt|exists: true\ncondition: s", {"llm.prompt": ""}, True),
    ("s:\n  llm.prompt|exists: true\ncondition: s", {}, False),
    ("s:\n  llm.prompt|exists: false\ncondition: s", {}, True),
    ("s:\n  llm.prompt: null\ncondition: s", {"api.model": "x"}, True),
    ("s:\n  llm.prompt: null\ncondition: s", {"llm.prompt": "x"}, False),
    # neq and numeric comparisons
    ("s:\n  api.model|neq: x\ncondition: s", {"api.model": "y"}, True),
    ("s:\n  api.model|neq: x\ncondition: s", {"api.model": "X"}, False),
    ("s:\n  api.request_count|gt: 5\ncondition: s", {"api.request_count": 6}, True),
    ("s:\n  api.request_count|gt: 5\ncondition: s", {"api.request_count": 5}, False),
    ("s:\n  api.request_count|gte: 5\ncondition: s", {"api.request_count": 5}, True),
    ("s:\n  api.request_count|lt: 5\ncondition: s", {"api.request_count": 4.9}, True),
    ("s:\n  api.request_count|lte: 5\ncondition: s", {"api.request_count": 6}, False),
    ("s:\n  api.request_count|gt: 5\ncondition: s", {"api.request_count": "7"}, True),
    ("s:\n  api.request_count|gt: 5\ncondition: s", {"api.request_count": True}, False),
    ("s:\n  api.request_count: 5\ncondition: s", {"api.request_count": 5.0}, True),
    ("s:\n  llm.logprobs: true\ncondition: s", {"llm.logprobs": True}, True),
    ("s:\n  llm.logprobs: true\ncondition: s", {"llm.logprobs": False}, False),
    # fieldref
    ("s:\n  user.id|fieldref: client.key_id\ncondition: s", {"user.id": "A", "client.key_id": "a"},
     True),
    ("s:\n  user.id|fieldref|startswith: client.key_id\ncondition: s",
     {"user.id": "alice-2", "client.key_id": "alice"}, True),
    ("s:\n  user.id|fieldref: client.key_id\ncondition: s", {"user.id": "a"}, False),
    # timestamp parts
    ("s:\n  '@timestamp|hour': 3\ncondition: s", {"@timestamp": "2026-11-25T03:10:00+00:00"}, True),
    ("s:\n  '@timestamp|month': 12\ncondition: s", {"@timestamp": "2026-11-25T03:10:00Z"}, False),
    # keywords search every value
    ("k:\n  - 'do anything now'\ncondition: k", {"llm.prompt": "You can Do Anything Now."}, True),
    ("k:\n  - 'do anything now'\ncondition: k", {"llm.prompt": "nothing"}, False),
    ("k:\n  '|re': 'AKIA[A-Z]{4}'\ncondition: k", {"x": "key AKIAABCD"}, True),
    # list-valued fields match when any element matches
    ("s:\n  atlas.techniques: AML.T0051\ncondition: s", {"atlas.techniques": ["AML.T0051"]}, True),
    # conditions: not, 1 of / all of with patterns and them
    ("a:\n  api.model: x\nb:\n  user.id: u\ncondition: a and not b", {"api.model": "x"}, True),
    ("a:\n  api.model: x\nb:\n  user.id: u\ncondition: a and not b",
     {"api.model": "x", "user.id": "u"}, False),
    ("sel_a:\n  api.model: x\nsel_b:\n  user.id: u\ncondition: 1 of sel_*", {"user.id": "u"}, True),
    ("sel_a:\n  api.model: x\nsel_b:\n  user.id: u\ncondition: all of sel_*", {"user.id": "u"},
     False),
    ("a:\n  api.model: x\nb:\n  user.id: u\ncondition: all of them",
     {"api.model": "x", "user.id": "u"}, True),
    ("a:\n  api.model: x\nb:\n  user.id: u\ncondition: 1 of them", {"api.model": "y"}, False),
    ("a:\n  - api.model: x\n  - user.id: u\ncondition: a", {"user.id": "u"}, True),
])
def test_detection_syntax(detection: str, event: dict, expected: bool):
    assert fires(detection, event) is expected


def test_expand_uses_configured_placeholders():
    detection = "s:\n  user.id|expand: '%admins%'\ncondition: s"
    assert fires(detection, {"user.id": "root"}, {"admins": ["root", "ops"]})
    assert not fires(detection, {"user.id": "bob"}, {"admins": ["root", "ops"]})


def test_expand_without_placeholder_values_is_a_load_error():
    from atlasgate.sigma import SigmaRulesError

    with pytest.raises(SigmaRulesError, match="admins"):
        fires("s:\n  user.id|expand: '%admins%'\ncondition: s", {"user.id": "root"})


def test_rules_for_other_log_sources_are_not_evaluated():
    text = (
        "title: t\nlogsource: {product: windows}\n"
        "detection:\n  s:\n    api.model: x\n  condition: s\n"
    )
    assert SigmaEngine.from_text(text).evaluate({"api.method": "chat", "api.model": "x"}) == []
    ignoring = SigmaEngine.from_text(text, ignore_logsource=True)
    assert ignoring.evaluate({"api.method": "chat", "api.model": "x"})


def test_article_logsource_applies_to_gateway_api_events():
    text = (
        "title: t\nlogsource: {product: machine_learning_platform, category: api_activity}\n"
        "detection:\n  s:\n    api.model: x\n  condition: s\n"
    )
    engine = SigmaEngine.from_text(text)
    assert engine.evaluate({"api.method": "predict", "api.model": "x"})
    assert not engine.evaluate({"api.model": "x"})  # no api.method: not API activity


def test_sigma_filters_exclude_events_from_the_rules_they_name():
    text = """
title: prompt mentions passwords
name: pw
logsource: {product: atlasgate, category: llm}
detection:
  s:
    llm.prompt|contains: password
  condition: s
---
title: the help desk talks about passwords all day
filter:
  rules: [pw]
  selection:
    client.key_id: helpdesk
  condition: not selection
logsource: {product: atlasgate, category: llm}
"""
    engine = SigmaEngine.from_text(text)
    event = {"api.method": "chat", "llm.prompt": "reset my password"}
    assert [m.rule_id for m in engine.evaluate({**event, "client.key_id": "alice"})] == ["pw"]
    assert engine.evaluate({**event, "client.key_id": "helpdesk"}) == []


def test_not_a_number_never_compares():
    assert not fires("s:\n  api.request_rate|gt: 5\ncondition: s", {"api.request_rate": float("nan")})
    assert not fires("s:\n  api.request_rate|lt: 5\ncondition: s", {"api.request_rate": float("nan")})


def test_nested_conditions_evaluate():
    depth = 9  # odd: the innermost selection ends up negated
    condition = "not (" * (depth - 1) + "not s" + ")" * (depth - 1)
    detection = f"s:\n  api.model: x\nt:\n  user.id: u\ncondition: t or ({condition})"
    assert fires(detection, {"api.model": "y"})
    assert not fires(detection, {"api.model": "x"})
    assert fires(detection, {"api.model": "x", "user.id": "u"})
