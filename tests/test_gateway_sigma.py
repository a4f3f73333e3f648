"""Sigma rules run on the gateway's own events, as requests happen."""

from __future__ import annotations

from pathlib import Path

import orjson

from gateway_harness import RunningGateway, http

ARTICLE_RULE = """\
title: Potential Model Extraction via Systematic API Queries
id: ai-model-extraction-detection
status: experimental
logsource:
  category: api_activity
  product: machine_learning_platform
detection:
  api_calls:
    api.method: predict
    api.endpoint|contains: model
  filter_volume:
    api.request_count: '>50'
    api.request_rate: '>5'
    api.input_similarity_score: '>0.85'
  filter_high_volume:
    api.request_count:
      - '>200'
      - '>500'
    api.request_rate: '>20'
  timeframe: 5m
  condition: api_calls and (filter_volume or filter_high_volume)
level: medium
tags:
  - mitre_atlas.model_access
  - mitre_atlas.evasion
"""

ENFORCING_RULE = """\
title: Burst of predictions from one key
id: 0f5f6a52-2a7e-4a55-9d43-5b1d1b1a3c01
status: test
logsource:
  product: atlasgate
  category: api_activity
detection:
  selection:
    api.method: predict
    api.request_count|gte: 5
  condition: selection
level: high
tags:
  - atlas.t0024.002
atlasgate:
  action: CONSTRAIN
  constraint: {top1: true}
  for: 10m
"""


def _gateway(make_gateway, tmp_path: Path, text: str) -> RunningGateway:  # type: ignore[no-untyped-def]
    rule = tmp_path / "rule.yml"
    rule.write_text(text)
    return make_gateway(sigma={"rules": [str(rule)]}, policy={"include_defaults": False})


def _predict(gw: RunningGateway, row: list[float]) -> dict:  # type: ignore[type-arg]
    reply = http("POST", f"{gw.url}/v1/models/sample-digits:predict",
                 orjson.dumps({"instances": [row]}))
    assert reply.status == 200
    return reply.json()  # type: ignore[no-any-return]


def _alerts(gw: RunningGateway) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in gw.entries if e.get("kind") == "alert"]


def test_article_rule_fires_on_a_burst_of_systematic_queries(make_gateway, samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw = _gateway(make_gateway, tmp_path, ARTICLE_RULE)
    row = samples.classifier.X[7].astype(float).tolist()
    for i in range(230):
        probe = list(row)
        probe[i % 64] = (probe[i % 64] + 1) % 16
        _predict(gw, probe)
    alerts = _alerts(gw)
    assert alerts, "the article's rule did not fire"
    first = alerts[0]["alert"]
    assert first["rule.id"] == "ai-model-extraction-detection"
    fired_at = next(i for i, e in enumerate(e for e in gw.entries if "event" in e)
                    if e["decision_id"] == alerts[0]["decision_id"])
    assert fired_at >= 200  # the high-volume branch needs more than 200 in the window
    request = next(e for e in gw.entries if e.get("decision_id") == alerts[0]["decision_id"]
                   and "event" in e)
    assert request["event"]["sigma.rules"] == ["ai-model-extraction-detection"]
    assert request["event"]["api.request_count_5m"] > 200


def test_article_rule_is_silent_on_slow_diverse_traffic(make_gateway, samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw = _gateway(make_gateway, tmp_path, ARTICLE_RULE)
    for i in range(40):
        _predict(gw, samples.classifier.X[i * 17].astype(float).tolist())
    assert _alerts(gw) == []


def test_rule_action_constrains_the_identity_afterwards(make_gateway, samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw = _gateway(make_gateway, tmp_path, ENFORCING_RULE)
    row = samples.classifier.X[3].astype(float).tolist()
    vectors = [_predict(gw, row)["predictions"][0] for _ in range(6)]
    assert sorted(vectors[0]) != [0.0] * 9 + [1.0]  # full scores before the rule fired
    assert sorted(vectors[-1]) == [0.0] * 9 + [1.0]  # labels only afterwards
    last = [e for e in gw.entries if "event" in e][-1]
    assert last["decision"]["action"] == "CONSTRAIN"
    assert last["decision"]["rule"].startswith("sigma:")
    assert "AML.T0024.002" in last["decision"]["techniques"]
