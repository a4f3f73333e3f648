"""``atlasgate sigma``: test rules on logged events, lint them, convert them for SIEMs."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from atlasgate.sigma.engine import SigmaEngine, load_rules
from atlasgate.sigma.loader import RuleSet

RULES = click.argument("rules", nargs=-1, required=True, type=click.Path(path_type=Path))
PLACEHOLDER = click.option(
    "--placeholder", "placeholders", multiple=True, metavar="NAME=V1,V2",
    help="Values for %NAME% in rules using the |expand modifier (repeatable).",
)


def _placeholders(items: tuple[str, ...]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}': expected NAME=V1,V2", param_hint="--placeholder")
        values[name.strip()] = [v for v in rest.split(",") if v]
    return values


def _load(rules: tuple[Path, ...], placeholders: dict[str, list[str]]) -> RuleSet:
    ruleset = load_rules(list(rules), expand_placeholders=placeholders)
    for problem in sorted(ruleset.errors, key=lambda p: (p.path, p.line or 0)):
        click.echo(str(problem), err=True)
    return ruleset


@click.group()
def sigma() -> None:
    """Sigma rules on the gateway's events."""


@sigma.command("test")
@RULES
@click.option("--events", "events_path", required=True, type=click.Path(path_type=Path),
              help="JSON lines: the gateway's export or any JSON events.")
@click.option("--ignore-logsource", is_flag=True,
              help="Evaluate every rule on every event, whatever its logsource.")
@click.option("--json", "as_json", is_flag=True, help="Print matches as JSON lines.")
@PLACEHOLDER
def test_command(rules: tuple[Path, ...], events_path: Path, ignore_logsource: bool,
                 as_json: bool, placeholders: tuple[str, ...]) -> None:
    """Evaluate RULES over a log of events and print the matches and per-rule counts."""
    from atlasgate.sigma.events import read_events

    ruleset = _load(rules, _placeholders(placeholders))
    if ruleset.errors:
        sys.exit(2)
    if not events_path.is_file():
        click.echo(f"{events_path}: no such file", err=True)
        sys.exit(2)
    engine = SigmaEngine(ruleset, ignore_logsource=ignore_logsource)
    counts: Counter[str] = Counter()
    bad = total = 0
    for number, event, error in read_events(events_path):
        if event is None:
            click.echo(f"{events_path}:{number}: {error}", err=True)
            bad += 1
            continue
        total += 1
        for match in engine.evaluate(event):
            counts[match.rule_id] += 1
            if as_json:
                record: dict[str, Any] = {"line": number, **match.alert_fields()}
                click.echo(json.dumps(record, default=str))
            else:
                ids = ",".join(match.event_ids) or f"line {number}"
                click.echo(f"{events_path}:{number}: {match.level:<8} {match.rule_id}  "
                           f"{match.title}  [{' '.join(match.techniques)}]  events={ids}")
    if not as_json:
        click.echo(f"\n{total} events, {sum(counts.values())} matches")
        for rule in [*engine.rules, *engine.correlations]:
            if rule.output:
                click.echo(f"  {counts.get(rule.key, 0):>7}  {rule.title}  ({rule.key})")
    if bad:
        sys.exit(3)


@sigma.command("lint")
@RULES
@click.option("--rewrite/--no-rewrite", default=True,
              help="Print the standard Sigma v2 form of rules written in the legacy dialect.")
@PLACEHOLDER
def lint_command(rules: tuple[Path, ...], rewrite: bool, placeholders: tuple[str, ...]) -> None:
    """Report errors (file:line: reason) and the liberties taken with legacy rules."""
    from atlasgate.sigma.rewrite import standard_documents, to_yaml

    ruleset = _load(rules, _placeholders(placeholders))
    for problem in sorted(ruleset.warnings, key=lambda p: (p.path, p.line or 0)):
        click.echo(str(problem))
    if rewrite:
        for item in ruleset.loaded:
            if not item.normalized.legacy:
                continue
            click.echo(f"\n# Standard Sigma v2 form of {item.doc.path}:{item.doc.line} "
                       f"({item.normalized.key})")
            documents = standard_documents(item.normalized)
            click.echo(to_yaml(documents[:1]).rstrip())
            if len(documents) > 1:
                click.echo("# For a SIEM without windowed features: the requests as a base rule "
                           "and an event_count correlation over them")
                click.echo("---")
                click.echo(to_yaml(documents[1:]).rstrip())
    loaded = len(ruleset.rules) + len(ruleset.correlations)
    click.echo(f"\n{loaded} rules loaded, {len(ruleset.errors)} errors, "
               f"{len(ruleset.warnings)} warnings", err=bool(ruleset.errors))
    if ruleset.errors:
        sys.exit(1)


@sigma.command("convert")
@RULES
@click.option("--target", "-t", required=True,
              type=click.Choice(["splunk", "kusto", "elasticsearch", "esql", "sqlite"]))
@PLACEHOLDER
def convert_command(rules: tuple[Path, ...], target: str, placeholders: tuple[str, ...]) -> None:
    """Convert RULES into TARGET queries with the pySigma backends."""
    from atlasgate.sigma.convert import ConversionError, convert

    values = _placeholders(placeholders)
    ruleset = _load(rules, values)
    if ruleset.errors:
        sys.exit(2)
    try:
        results = convert(ruleset, target, values)
    except ConversionError as e:
        click.echo(f"error: {e.reason}", err=True)
        sys.exit(2)
    failed = 0
    for entry in results:
        label = entry.get("name") or entry.get("id") or ""
        click.echo(f"# {entry['title']} ({label})")
        if "error" in entry:
            failed += 1
            click.echo(f"# not converted: {entry['error']}")
        for query in entry.get("queries", []):
            click.echo(query)
        click.echo("")
    if failed:
        sys.exit(1)


@sigma.command("setup-converters")
def setup_converters_command() -> None:
    """Install the Splunk, Elasticsearch and Kusto backends in their own environment."""
    import subprocess

    from atlasgate.sigma.convert import converter_env, setup_converters

    click.echo(f"installing SIEM backends (pySigma 1.x) into {converter_env()}")
    try:
        env = setup_converters()
    except subprocess.CalledProcessError as e:
        click.echo(f"error: pip failed with exit code {e.returncode}", err=True)
        sys.exit(1)
    click.echo(f"ready: {env}")
