"""``atlasgate policy``: lint policy files and test them against recorded events."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import click

from atlasgate.cli.output import fail

# Top-level Event namespaces; a condition reading anything else is probably a typo.
KNOWN_ROOTS = frozenset({"api", "client", "user", "session", "llm", "ml", "detection", "decision",
                         "atlas", "http", "upstream", "event", "timestamp", "sigma", "data"})


@click.group()
def policy() -> None:
    """Lint and test policy rules."""


@policy.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def lint(files: tuple[str, ...]) -> None:
    """Check policy FILES: errors with file:line (exit 1), warnings for doubtful rules."""
    from atlasgate.errors import AtlasGateError
    from atlasgate.policy.decision import Action
    from atlasgate.policy.load import load_policy_file

    failed = False
    for file in files:
        try:
            policy_set = load_policy_file(file)
        except AtlasGateError as exc:
            click.echo(str(exc), err=True)
            failed = True
            continue
        for rule in policy_set.rules:
            unknown = sorted(set(rule.roots) - KNOWN_ROOTS)
            if unknown:
                click.echo(f"{rule.source}: warning: rule {rule.id} reads unknown field "
                           f"namespace(s) {', '.join(unknown)}")
            if not rule.techniques and rule.action >= Action.LOG:
                click.echo(f"{rule.source}: warning: rule {rule.id} names no ATLAS technique, "
                           "so coverage cannot count it")
            if ".matches(" in rule.condition:
                click.echo(f"{rule.source}: warning: rule {rule.id} uses matches(), which compiles "
                           "its pattern on every evaluation; prefer a detector field")
            if not rule.description and rule.action >= Action.REVIEW:
                click.echo(f"{rule.source}: warning: rule {rule.id} has no description; "
                           "callers see it as the reason")
        click.echo(f"{file}: {len(policy_set.rules)} rules OK (revision {policy_set.revision})")
    if failed:
        sys.exit(1)


@policy.command("test")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--events", "events_path", required=True, type=click.Path(dir_okay=False),
              help="JSON lines: flat Events, decision-log entries, or either with an 'expect' action.")
@click.option("--phase", type=click.Choice(["request", "response"]), default="request",
              show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print only mismatches and the summary.")
def test(file: str, events_path: str, phase: str, quiet: bool) -> None:
    """Evaluate the rules of FILE on each event; exit 1 when an 'expect' does not hold."""
    import orjson

    from atlasgate.errors import AtlasGateError, PolicyError
    from atlasgate.event import Event
    from atlasgate.policy.load import load_policy_file

    try:
        policy_set = load_policy_file(file)
    except AtlasGateError as exc:
        fail(str(exc), 2)
    actions: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    mismatches = 0
    try:
        handle = open(events_path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"{events_path}: {exc.strerror}", 2)
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                fail(f"{events_path}:{number}: not JSON: {exc}", 2)
            if not isinstance(record, dict):
                fail(f"{events_path}:{number}: expected a JSON object", 2)
            expect = record.pop("expect", None)
            event = Event(_flat_fields(record))
            try:
                decision = policy_set.decide(event, phase)
            except PolicyError as exc:
                fail(f"{events_path}:{number}: {exc}", 2)
            actions[decision.action.name] += 1
            rules.update(decision.matched)
            wrong = expect is not None and str(expect).upper() != decision.action.name
            mismatches += wrong
            if wrong or not quiet:
                mark = f"  MISMATCH (expected {str(expect).upper()})" if wrong else ""
                click.echo(f"{events_path}:{number}: {decision.action.name:<9} "
                           f"{decision.rule or '-'}{mark}")
    click.echo("actions: " + ", ".join(f"{a}={n}" for a, n in sorted(actions.items())))
    for rule in policy_set.rules:
        click.echo(f"  {rules[rule.id]:>6}  {rule.id}")
    if mismatches:
        click.echo(f"{mismatches} expectation(s) failed", err=True)
        sys.exit(1)


def _flat_fields(record: dict[str, Any]) -> dict[str, Any]:
    """Accept a decision-log entry (its 'event'), a flat Event, or a nested one."""
    if isinstance(record.get("event"), dict) and "decision_id" in record:
        record = record["event"]
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else key, child)
        else:
            flat[prefix] = value

    for key, value in record.items():
        if "." in key or not isinstance(value, dict):
            flat[key] = value
        else:
            walk(key, value)
    return flat
