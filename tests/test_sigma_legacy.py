"""The article's rule, pasted as published, loads, lints with warnings, and fires."""

from __future__ import annotations

from pathlib import Path

import yaml

from atlasgate.sigma import SigmaEngine, load_rules
from atlasgate.sigma.loader import Loader
from atlasgate.sigma.rewrite import standard_documents, to_yaml

ARTICLE = Path(__file__).parent / "fixtures" / "sigma" / "article_rule.yml"


def predict(**fields) -> dict:
    return {"api.method": "predict", "api.endpoint": "/v1/models/sample-digits:predict",
            "event.id": "e1", **fields}


def test_article_rule_loads_with_a_warning_per_liberty():
    ruleset = load_rules([ARTICLE])
    assert ruleset.errors == []
    warnings = [(p.line, p.message) for p in ruleset.warnings]
    lines = {line for line, _ in warnings}
    assert {2, 12, 13, 14, 17, 18, 19, 20, 24, 25} <= lines
    text = " ".join(m for _, m in warnings)
    assert "not a UUID" in text
    assert "'>50' read as a numeric comparison" in text
    assert "timeframe" in text
    assert "mitre_atlas.model_access" in text


def test_article_rule_keeps_its_id_as_name_and_maps_legacy_tags():
    engine = SigmaEngine.from_paths([ARTICLE])
    (rule,) = engine.rules
    assert rule.key == rule.name == "ai-model-extraction-detection"
    assert rule.techniques == ("AML.T0040", "AML.T0015")
    assert rule.tactics == ("AML.TA0000", "AML.TA0007")


def test_timeframe_sets_the_windows_the_gateway_computes():
    assert SigmaEngine.from_paths([ARTICLE]).required_windows() == {300}


def test_article_rule_fires_on_fast_similar_predict_traffic():
    engine = SigmaEngine.from_paths([ARTICLE])
    fast = predict(**{"api.request_count_5m": 61, "api.request_rate_5m": 6.1,
                      "api.input_similarity_score": 0.9})
    (match,) = engine.evaluate(fast)
    assert match.rule_id == "ai-model-extraction-detection"
    assert match.event_ids == ("e1",)
    flood = predict(**{"api.request_count_5m": 201, "api.request_rate_5m": 21,
                       "api.input_similarity_score": 0.1})
    assert engine.evaluate(flood)


def test_article_rule_reads_the_window_of_its_timeframe_before_the_default():
    engine = SigmaEngine.from_paths([ARTICLE])
    event = predict(**{"api.request_count": 500, "api.request_rate": 30,
                       "api.request_count_5m": 3, "api.request_rate_5m": 0.1})
    assert engine.evaluate(event) == []
    assert engine.evaluate(predict(**{"api.request_count": 500, "api.request_rate": 30}))


def test_article_rule_is_quiet_on_slow_or_diverse_traffic():
    engine = SigmaEngine.from_paths([ARTICLE])
    slow = predict(**{"api.request_count_5m": 61, "api.request_rate_5m": 0.2,
                      "api.input_similarity_score": 0.9})
    diverse = predict(**{"api.request_count_5m": 61, "api.request_rate_5m": 6.1,
                         "api.input_similarity_score": 0.3})
    chat = {**predict(**{"api.request_count_5m": 900, "api.request_rate_5m": 90}),
            "api.method": "chat"}
    assert engine.evaluate(slow) == engine.evaluate(diverse) == engine.evaluate(chat) == []


def test_standard_rewrite_is_plain_sigma_that_behaves_the_same():
    item = load_rules([ARTICLE]).loaded[0]
    documents = standard_documents(item.normalized)
    rule = documents[0]
    assert rule["detection"]["filter_volume"] == {
        "api.request_count|gt": 50, "api.request_rate|gt": 5, "api.input_similarity_score|gt": 0.85}
    assert "timeframe" not in rule["detection"]
    assert rule["atlasgate"] == {"window": "5m"}
    assert rule["tags"] == ["atlas.ta0000", "atlas.t0040", "atlas.ta0007", "atlas.t0015"]
    assert documents[2]["correlation"]["type"] == "event_count"
    assert documents[2]["correlation"]["condition"] == {"gt": 50}

    rewritten = Loader().load_text(to_yaml(documents), "rewrite.yml")
    assert rewritten.errors == []
    assert rewritten.warnings == []
    engine = SigmaEngine(rewritten)
    assert engine.required_windows() == {300}
    fast = predict(**{"api.request_count_5m": 61, "api.request_rate_5m": 6.1,
                      "api.input_similarity_score": 0.9})
    assert [m.rule_id for m in engine.evaluate(fast)] == [str(rule["id"])]


def test_mixed_comparison_lists_keep_or_semantics():
    text = """
title: mixed
logsource: {product: atlasgate}
detection:
  s:
    api.request_count: ['<3', '>=100']
  condition: s
"""
    engine = SigmaEngine.from_text(text)
    hits = [n for n in (1, 3, 50, 100, 200)
            if engine.evaluate({"api.method": "chat", "api.request_count": n})]
    assert hits == [1, 100, 200]


def test_modified_values_are_never_read_as_comparisons():
    text = """
title: literal
logsource: {product: atlasgate}
detection:
  s:
    llm.prompt|contains: '>50'
  condition: s
"""
    engine = SigmaEngine.from_text(text)
    assert engine.evaluate({"api.method": "chat", "llm.prompt": "score >50 here"})
    assert not engine.evaluate({"api.method": "chat", "llm.prompt": "60"})
    assert yaml.safe_load(text)["detection"]["s"] == {"llm.prompt|contains": ">50"}


def test_rewrite_of_mixed_comparisons_splits_the_selection_and_keeps_its_meaning():
    text = """
title: mixed
id: mixed-comparisons
logsource: {product: atlasgate}
detection:
  s:
    api.method: predict
    api.request_count: ['<3', '>=100', '7']
  condition: s
"""
    item = Loader().load_text(text, "mixed.yml").loaded[0]
    rewritten_docs = standard_documents(item.normalized)
    assert rewritten_docs[0]["detection"]["s"] == [
        {"api.method": "predict", "api.request_count|lt": 3},
        {"api.method": "predict", "api.request_count|gte": 100},
        {"api.method": "predict", "api.request_count": "7"},
    ]
    legacy = SigmaEngine.from_text(text)
    standard = SigmaEngine(Loader().load_text(to_yaml(rewritten_docs), "standard.yml"))
    for count in (1, 3, 7, 50, 100, 200):
        event = {"api.method": "predict", "api.request_count": count}
        assert bool(legacy.evaluate(event)) == bool(standard.evaluate(event)), count
