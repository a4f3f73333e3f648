"""Opening the store an ``audit:`` section names, for the writer and for readers."""

from __future__ import annotations

from atlasgate.audit.errors import AuditError
from atlasgate.audit.settings import AuditSettings
from atlasgate.audit.sqlite_store import SQLiteLogStore
from atlasgate.audit.store import LogStore


def open_store(settings: AuditSettings, *, readonly: bool = False) -> LogStore:
    """The SQLite or PostgreSQL store of ``settings``; AuditError if it cannot be opened."""
    if settings.store == "postgresql":
        return open_postgres_store(
            settings.resolved_dsn(),
            settings.table_prefix,
            readonly=readonly,
            sync=settings.sync,
            busy_timeout=settings.busy_timeout,
        )
    return SQLiteLogStore(
        settings.path, settings.sync, readonly=readonly, busy_timeout=settings.busy_timeout
    )


def open_postgres_store(
    dsn: str,
    table_prefix: str = "atlasgate_",
    *,
    readonly: bool = False,
    sync: str = "normal",
    busy_timeout: float = 5.0,
) -> LogStore:
    try:
        from atlasgate.audit.postgres_store import PostgresLogStore
    except ImportError:
        raise AuditError(
            "audit.store postgresql needs psycopg 3: pip install 'atlasgate[postgres]'"
        ) from None
    return PostgresLogStore(
        dsn,
        table_prefix,
        readonly=readonly,
        sync="full" if sync == "full" else "normal",
        busy_timeout=busy_timeout,
    )


def describe_store(settings: AuditSettings) -> str:
    """Where the log of ``settings`` lives, for messages (no password)."""
    if settings.store == "postgresql":
        from atlasgate.audit.postgres_store import describe_dsn

        return f"{describe_dsn(settings.resolved_dsn())} (tables {settings.table_prefix}*)"
    return settings.path
