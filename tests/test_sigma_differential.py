"""The engine agrees with pySigma's SQLite backend on generated rules and events."""

from __future__ import annotations

from collections import defaultdict

from atlasgate.sigma import SigmaEngine
from atlasgate.sigma.loader import Loader
from sigma_corpus import events, rules_yaml
from sigma_sqlite import convert, load_events, run


def test_engine_matches_equal_sqlite_backend_matches():
    ruleset = Loader().load_text(rules_yaml(400, seed=11), "generated.yml")
    assert not ruleset.errors
    corpus = events(500, seed=5)
    engine = SigmaEngine(ruleset, ignore_logsource=True)
    ours: dict[str, set[str]] = defaultdict(set)
    for event in corpus:
        for match in engine.evaluate(event, now=0.0):
            ours[match.rule_id] |= set(match.event_ids)

    theirs = run(load_events(corpus), convert(ruleset.rules))

    differing = {
        key: (sorted(ours[key] - expected)[:5], sorted(expected - ours[key])[:5])
        for key, expected in theirs.items()
        if ours[key] != expected
    }
    assert not differing, differing
    # The corpus must exercise both outcomes, or agreement would prove nothing.
    partial = [k for k, ids in theirs.items() if 0 < len(ids) < len(corpus)]
    assert len(partial) > len(theirs) // 2
