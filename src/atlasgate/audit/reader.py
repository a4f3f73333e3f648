"""Synchronous, read-only access to a decision log, for the CLI and auditors.

A reader opens the database read-only and can run while the gateway is writing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from atlasgate.audit.encoding import LogEntry, decode_entry
from atlasgate.audit.settings import AuditSettings
from atlasgate.audit.sqlite_store import SQLiteLogStore
from atlasgate.audit.store import LogStore, StoredCheckpoint, StoredEntry
from atlasgate.audit.stores import open_postgres_store, open_store


class LogReader:
    def __init__(self, store: LogStore) -> None:
        self.store = store

    def size(self) -> int:
        return self.store.size()

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        return self.store.read_range(start, end)

    def decoded(self, start: int = 0, end: int | None = None) -> Iterator[LogEntry]:
        """Entries decoded; raises MalformedEntryError on damaged bytes."""
        for stored in self.store.read_range(start, end):
            yield decode_entry(stored.data)

    def tail(self, count: int) -> list[StoredEntry]:
        start = max(0, self.size() - count)
        return list(self.store.read_range(start))

    def find(self, decision_id: str) -> list[StoredEntry]:
        return self.store.find(decision_id)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return self.store.leaf_hashes(start, end)

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self.store.checkpoints()

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.store.latest_checkpoint()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_reader(path: str | Path) -> LogReader:
    """Open the SQLite decision log at ``path`` read-only; AuditError if it is missing."""
    return LogReader(SQLiteLogStore(path, readonly=True))


def open_postgres_reader(dsn: str, table_prefix: str = "atlasgate_") -> LogReader:
    """Open the PostgreSQL decision log in ``<table_prefix>*`` tables read-only."""
    return LogReader(open_postgres_store(dsn, table_prefix, readonly=True))


def open_log_reader(settings: AuditSettings) -> LogReader:
    """Open the log an ``audit:`` section names (SQLite or PostgreSQL) read-only."""
    return LogReader(open_store(settings, readonly=True))
