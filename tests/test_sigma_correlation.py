"""Correlation rules over sliding windows keyed by group-by, in the correlation state."""

from __future__ import annotations

import pytest

from atlasgate.sigma import MemoryCorrelationState, SigmaEngine

BASE = """
title: failed call
name: failed
logsource: {product: atlasgate}
detection:
  s:
    http.response.status_code: 500
  condition: s
---
title: ok call
name: ok
logsource: {product: atlasgate}
detection:
  s:
    http.response.status_code: 200
  condition: s
---
"""


def engine(correlation: str, state=None) -> SigmaEngine:
    return SigmaEngine.from_text(BASE + correlation, state=state)


def run(e: SigmaEngine, events: list[tuple[float, dict]]) -> list:
    matches = []
    for i, (at, fields) in enumerate(events):
        matches += e.evaluate({"event.id": f"e{i}", "api.method": "chat", **fields}, now=at)
    return [m for m in matches if m.kind == "correlation"]


def failed(key: str = "k1", **extra) -> dict:
    return {"http.response.status_code": 500, "client.key_id": key, **extra}


def ok(key: str = "k1", **extra) -> dict:
    return {"http.response.status_code": 200, "client.key_id": key, **extra}


EVENT_COUNT = """
title: many failures
correlation: {type: event_count, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {gte: 3}}
level: high
tags: [atlas.t0029]
"""


def test_event_count_fires_when_the_window_holds_enough_events():
    fired = run(engine(EVENT_COUNT), [(0, failed()), (10, failed()), (20, failed())])
    assert len(fired) == 1
    assert fired[0].event_ids == ("e0", "e1", "e2")
    assert fired[0].group_by == {"client.key_id": "k1"}
    assert fired[0].techniques == ("AML.T0029",)
    assert fired[0].correlation_type == "event_count"


def test_event_count_window_slides():
    assert run(engine(EVENT_COUNT), [(0, failed()), (10, failed()), (75, failed())]) == []


def test_event_count_groups_are_separate():
    assert run(engine(EVENT_COUNT), [(0, failed("a")), (1, failed("b")), (2, failed("a"))]) == []


def test_event_count_does_not_refire_on_the_same_events():
    fired = run(engine(EVENT_COUNT), [(t, failed()) for t in range(5)])
    assert len(fired) == 1


def test_base_rules_referenced_by_a_correlation_do_not_alert_alone():
    e = engine(EVENT_COUNT)
    assert e.evaluate({"api.method": "chat", **failed()}, now=0) == []


def test_value_count_counts_distinct_values():
    rule = """
title: many models
correlation: {type: value_count, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {gte: 3, field: api.model}}
"""
    models = ["a", "A", "b", "c"]
    fired = run(engine(rule), [(i, failed(**{"api.model": m})) for i, m in enumerate(models)])
    assert [m.event_ids for m in fired] == [("e0", "e1", "e2", "e3")]
    assert run(engine(rule), [(i, failed(**{"api.model": "a"})) for i in range(5)]) == []


@pytest.mark.parametrize(("kind", "condition", "values", "fires"), [
    ("value_sum", {"gt": 100}, [40, 40, 30], True),
    ("value_sum", {"gt": 100}, [40, 40, 20], False),
    ("value_avg", {"gte": 50}, [40, 60, 50], True),
    ("value_avg", {"gte": 50}, [40, 50, 10], False),
    ("value_median", {"gte": 50}, [10, 60, 70], True),
    ("value_percentile", {"gte": 60, "percentile": 90}, [10, 20, 80], True),
])
def test_value_aggregations(kind: str, condition: dict, values: list, fires: bool):
    cond = ", ".join(f"{k}: {v}" for k, v in condition.items())
    rule = f"""
title: tokens
correlation: {{type: {kind}, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {{{cond}, field: llm.max_tokens}}}}
"""
    events = [(i, failed(**{"llm.max_tokens": v})) for i, v in enumerate(values)]
    fired = run(engine(rule), events)
    assert bool(fired) is fires


def test_temporal_needs_every_rule_within_the_window_in_any_order():
    rule = """
title: fail and succeed
correlation: {type: temporal, rules: [failed, ok], group-by: [client.key_id], timespan: 1m}
"""
    assert len(run(engine(rule), [(0, ok()), (5, failed())])) == 1
    assert run(engine(rule), [(0, ok()), (90, failed())]) == []
    assert run(engine(rule), [(0, ok("a")), (5, failed("b"))]) == []


def test_temporal_ordered_needs_the_rules_in_order():
    rule = """
title: fail then succeed
correlation: {type: temporal_ordered, rules: [failed, ok], group-by: [client.key_id],
              timespan: 1m}
"""
    assert len(run(engine(rule), [(0, failed()), (5, ok())])) == 1
    assert run(engine(rule), [(0, ok()), (5, failed())]) == []


def test_temporal_with_an_extended_condition():
    rule = """
title: fail without success
correlation: {type: temporal, group-by: [client.key_id], timespan: 1m,
              condition: failed and not ok}
"""
    assert len(run(engine(rule), [(0, failed())])) == 1
    fired = run(engine(rule), [(0, ok()), (1, failed())])
    assert fired == []


def test_group_by_aliases_read_a_different_field_per_rule():
    rule = """
title: same user
correlation:
  type: temporal
  rules: [failed, ok]
  group-by: [who]
  timespan: 1m
  aliases:
    who: {failed: user.id, ok: client.key_id}
"""
    events = [(0, failed("x", **{"user.id": "sam"})), (5, ok("sam"))]
    fired = run(engine(rule), events)
    assert len(fired) == 1
    assert fired[0].group_by == {"who": "sam"}


def test_correlations_chain():
    rule = """
title: many failures
name: many-failures
correlation: {type: event_count, rules: [failed], group-by: [client.key_id], timespan: 1m,
              condition: {gte: 2}}
---
title: failures then success
correlation: {type: temporal_ordered, rules: [many-failures, ok], group-by: [client.key_id],
              timespan: 5m}
"""
    fired = run(engine(rule), [(0, failed()), (1, failed()), (2, ok())])
    assert [m.title for m in fired] == ["failures then success"]
    assert fired[0].event_ids == ("e0", "e1", "e2")


def test_generate_keeps_base_rule_alerts():
    rule = EVENT_COUNT.replace("timespan: 1m,", "timespan: 1m, generate: true,")
    e = engine(rule)
    assert [m.title for m in e.evaluate({"api.method": "chat", **failed()}, now=0)] == [
        "failed call"]


def test_correlation_windows_live_in_the_given_state():
    state = MemoryCorrelationState()
    first = engine(EVENT_COUNT, state)
    run(first, [(0, failed()), (1, failed())])
    second = engine(EVENT_COUNT, state)  # e.g. another replica sharing the store
    assert len(run(second, [(2, failed())])) == 1


def test_memory_state_is_bounded():
    state = MemoryCorrelationState(max_keys=2, max_entries=3)
    for key in ("a", "b", "c"):
        state.add(key, 0.0, "m", 60)
    assert len(state) == 2
    assert state.entries("a", 0) == []
    for i in range(5):
        state.add("c", float(i), f"m{i}", 60)
    assert [m for _, m in state.entries("c", 0)] == ["m2", "m3", "m4"]
    state.add("c", 100.0, "late", 60)
    assert [m for _, m in state.entries("c", 0)] == ["late"]


def test_adding_a_member_again_moves_it_like_a_sorted_set():
    state = MemoryCorrelationState()
    state.add("k", 1.0, "a", 60)
    state.add("k", 2.0, "b", 60)
    state.add("k", 3.0, "a", 60)
    assert state.entries("k", 0) == [(2.0, "b"), (3.0, "a")]
    assert state.count("k", 2.5) == 1


def test_distinct_value_window_stays_small_on_a_busy_group():
    state = MemoryCorrelationState()
    rule = """
title: many models
correlation: {type: value_count, rules: [failed], group-by: [client.key_id], timespan: 1h,
              condition: {gte: 3, field: api.model}}
"""
    e = engine(rule, state)
    run(e, [(i, failed(**{"api.model": ["a", "b"][i % 2]})) for i in range(2000)])
    windows = sorted(state.count(k, 0) for k in state._data)
    assert windows == [2, 2000]


async def test_evaluate_async_with_the_memory_store_matches_evaluate():
    sync_engine, async_engine = engine(EVENT_COUNT), engine(EVENT_COUNT)
    events = [(float(t), {"event.id": f"e{t}", "api.method": "chat", **failed()})
              for t in (0, 1, 2, 3, 4, 5)]
    expected = [[m.event_ids for m in sync_engine.evaluate(e, now=t)] for t, e in events]
    got = [[m.event_ids for m in await async_engine.evaluate_async(e, now=t)] for t, e in events]
    assert got == expected
    assert expected[2] == [("e0", "e1", "e2")]
