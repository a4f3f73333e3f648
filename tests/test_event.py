"""The Event's nested view, which CEL expressions address."""

from __future__ import annotations

from pathlib import Path

from atlasgate.config.load import ConfigOrigin, build_config
from atlasgate.event import Event, nest
from atlasgate.policy.load import load_policy


def test_dotted_fields_nest_and_timestamp_loses_its_at() -> None:
    nested = nest({"@timestamp": "t", "api.method": "chat", "detection.pii.count": 2})
    assert nested == {"timestamp": "t", "api": {"method": "chat"},
                      "detection": {"pii": {"count": 2}}}


def test_a_map_field_and_fields_under_it_merge_without_touching_the_map() -> None:
    labels = {"team": "fraud"}
    nested = nest({"request.labels": labels, "request.labels.tier": "gold"})
    assert nested == {"request": {"labels": {"team": "fraud", "tier": "gold"}}}
    assert labels == {"team": "fraud"}


def test_a_map_placed_under_itself_does_not_become_a_cycle() -> None:
    shared: dict[str, object] = {"a": 1}
    nested = nest({"y": shared, "y.z": shared})
    assert nested["y"]["z"] is shared
    assert shared == {"a": 1}
    # CEL reads it like any other value (a cycle here once crashed the process).
    policy = load_policy(build_config(
        {"policy": {"include_defaults": False,
                    "rules": [{"id": "deep", "condition": "y.z.a == 1", "action": "LOG"}]}},
        ConfigOrigin(None, Path.cwd(), None)))
    assert policy.decide(Event({"y": shared, "y.z": shared}), "request", "id1").rule == "deep"
