"""Run Sigma rules the SQLite-backend way: events in a table, one converted query per rule."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

from atlasgate.sigma.compiler import event_text
from atlasgate.sigma.loader import RuleSet
from atlasgate.sigma.rules import CompiledRule

TEXT_COLUMN = "_text"


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def load_events(events: list[dict[str, Any]], fields: Iterable[str] = ()) -> sqlite3.Connection:
    """A table like Zircolite's: one NOCASE column per field, plus the keyword text."""
    names = sorted({name for event in events for name in event} | set(fields))
    connection = sqlite3.connect(":memory:")
    connection.create_function("regexp", 2, _regexp, deterministic=True)
    columns = ", ".join(f"`{n}` COLLATE NOCASE" for n in [*names, TEXT_COLUMN])
    connection.execute(f"CREATE TABLE logs ({columns})")
    placeholders = ", ".join("?" for _ in range(len(names) + 2))
    connection.executemany(
        f"INSERT INTO logs (rowid, {', '.join(f'`{n}`' for n in names)}, `{TEXT_COLUMN}`) "
        f"VALUES ({placeholders})",
        [(int(e["event.id"]), *(e.get(n) for n in names), event_text(e)) for e in events],
    )
    return connection


def convert(rules: Iterable[CompiledRule]) -> dict[str, str]:
    backend = sqliteBackend(fulltext_field=TEXT_COLUMN)
    return {rule.key: backend.convert_rule(rule.sigma)[0] for rule in rules}


def convert_all(ruleset: RuleSet) -> list[str]:
    """Every detection and correlation query, as ``sigma convert -t sqlite`` emits them."""
    backend = sqliteBackend(fulltext_field=TEXT_COLUMN, timestamp_field="@timestamp")
    rules = [r.sigma for r in ruleset.rules] + [c.sigma for c in ruleset.correlations]
    return list(backend.convert(SigmaCollection(rules, resolve_references=False)))


def run(connection: sqlite3.Connection, queries: dict[str, str]) -> dict[str, set[str]]:
    matches: dict[str, set[str]] = {}
    for key, query in queries.items():
        sql = query.replace("SELECT * FROM", "SELECT rowid FROM", 1)
        matches[key] = {str(row[0]) for row in connection.execute(sql)}
    return matches
