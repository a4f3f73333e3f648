"""Sigma engine throughput: streaming and offline, against the SQLite-backend way.

Run: python bench/bench_sigma.py [--events N] [--generated N]

Rules: the shipped pack (rules/) plus generated rules. Events: gateway-shaped
events from a fixed seed. Baseline, in the same process: what pySigma's SQLite
backend offers, i.e. load the events into an SQLite table and run every rule's
converted query over it. Times are this process's CPU time (one core), so other
work on a shared machine inflates them less than wall-clock time would; each mode
runs several times and the fastest run counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from atlasgate.sigma import SigmaEngine, load_rules  # noqa: E402
from atlasgate.sigma.events import read_events  # noqa: E402
from atlasgate.sigma.loader import Loader, RuleSet  # noqa: E402
from sigma_corpus import events as make_events  # noqa: E402
from sigma_corpus import rules_yaml  # noqa: E402
from sigma_sqlite import convert_all, load_events  # noqa: E402


def ruleset_with_generated(count: int) -> RuleSet:
    pack = load_rules([ROOT / "rules"])
    generated = Loader().load_text(rules_yaml(count, seed=3), "generated.yml")
    pack.rules += generated.rules
    return pack


def gateway_events(count: int) -> list[dict]:
    events = make_events(count, seed=9)
    for event in events:
        # The gateway adds the windowed features the pack's rules read.
        event["api.request_count_5m"] = event.get("api.request_count", 0)
        event["api.request_rate_5m"] = event.get("api.request_rate", 0.0)
        event["api.request_rate_1m"] = event.get("api.request_rate", 0.0)
        event["api.input_similarity_score"] = (int(event["event.id"]) % 100) / 100
        event["event.kind"] = "request"
    return events


def streaming(ruleset: RuleSet, events: list[dict]) -> tuple[float, int]:
    engine = SigmaEngine(ruleset)
    matches = 0
    start = time.process_time()
    for event in events:
        matches += len(engine.evaluate(event))
    return time.process_time() - start, matches


def offline(ruleset: RuleSet, path: Path) -> tuple[float, int]:
    engine = SigmaEngine(ruleset)
    matches = 0
    start = time.process_time()
    for _, event, _ in read_events(path):
        matches += len(engine.evaluate(event))
    return time.process_time() - start, matches


def sqlite_way(ruleset: RuleSet, events: list[dict]) -> tuple[float, int]:
    queries = convert_all(ruleset)  # conversion is done once, outside the timing
    fields = {f for rule in ruleset.rules for f in rule.fields}
    start = time.process_time()
    connection = load_events(events, fields)
    matches = 0
    for query in queries:
        matches += len(connection.execute(query).fetchall())
    return time.process_time() - start, matches


def main() -> None:
    """Matches differ between the engine and SQLite because the backend knows neither log
    sources nor feature windows, and runs correlations over closed windows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--generated", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the fastest counts")
    args = parser.parse_args()

    def best(run: Callable[..., tuple[float, int]], *run_args: object) -> tuple[float, int]:
        return min((run(*run_args) for _ in range(args.repeat)), key=lambda r: r[0])

    pack = load_rules([ROOT / "rules"])
    full = ruleset_with_generated(args.generated)
    events = gateway_events(args.events)
    extra = f"pack + {args.generated} generated"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
        # (rule set, mode, rules, (seconds, matches)); the SQLite row of a set is its baseline.
        runs = [
            ("shipped pack", "streaming (evaluate per event)", pack, best(streaming, pack, events)),
            ("shipped pack", "sigma test (JSON lines)", pack, best(offline, pack, path)),
            ("shipped pack", "SQLite backend (baseline)", pack, best(sqlite_way, pack, events)),
            (extra, "streaming (evaluate per event)", full, best(streaming, full, events)),
            (extra, "sigma test (JSON lines)", full, best(offline, full, path)),
            (extra, "SQLite backend (baseline)", full, best(sqlite_way, full, events)),
        ]
    baselines = {name: result[0] for name, mode, _, result in runs if mode.startswith("SQLite")}
    print(f"{len(events)} events, one core (CPU time), best of {args.repeat} runs per mode\n")
    print(
        f"{'rules':<28} {'mode':<32} {'n':>4} {'events/s':>10} {'us/event':>9} "
        f"{'matches':>8} {'vs SQLite':>9}"
    )
    for name, mode, ruleset, (seconds, matches) in runs:
        count = len(ruleset.rules) + len(ruleset.correlations)
        print(
            f"{name:<28} {mode:<32} {count:>4} {len(events) / seconds:>10,.0f} "
            f"{seconds / len(events) * 1e6:>9.1f} {matches:>8} "
            f"{baselines[name] / seconds:>8.2f}x"
        )


if __name__ == "__main__":
    main()
