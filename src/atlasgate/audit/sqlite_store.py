"""The default decision-log store: one SQLite file in WAL mode.

WAL lets ``atlasgate audit verify`` or ``tail`` read the file from another process while
the gateway writes. ``sync="normal"`` makes each commit reach the operating system before
it returns, which survives a crash or ``kill -9`` of the gateway; ``sync="full"`` also
fsyncs the WAL on every commit, which survives power loss at the cost of one fsync per
batch.

With ``sync="normal"`` a commit is a write into the page cache and costs tens of
microseconds, so the log commits on the event loop itself (``inline_commits``): handing
each batch to a thread costs more than the write, and under CPU contention the
hand-off waits for the scheduler for milliseconds. The only slow step left, copying the
WAL into the database file with its fsyncs, is taken out of the commit
(``wal_autocheckpoint = 0``) and run by ``checkpoint_wal()`` on a connection of its own,
from the log's background thread.

The ``tree_state`` row is a cache that spares a restart from rehashing the whole log,
not part of the log: entries are the record, and the writer extends a stale state
from the stored leaf hashes (see ``TreeWriter``). So it is rewritten only every
``STATE_EVERY`` entries and on close, not with every batch, where it cost a statement
and a WAL page per commit.

Entries are append-only by trigger, a guard against mistakes rather than against
someone with write access to the file; that is what verification is for.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from atlasgate.audit.errors import AuditError
from atlasgate.audit.merkle import HASH_SIZE
from atlasgate.audit.store import EntryRow, StoredCheckpoint, StoredEntry, TreeState

SCHEMA_VERSION = 1
STATE_EVERY = 1024
"""Entries between rewrites of the saved tree state: at most this many leaf hashes to
read back when the log is reopened after a crash."""
CACHE_KIB = 16384
"""Page cache of the writing connection. Every entry lands on a random leaf of the
decision_id index; a cache that holds the index's interior pages and recent leaves
saves a read of the file for most of them once the log outgrows SQLite's 2 MiB
default."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_decision_id ON entries (decision_id);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tree_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    last_leaf BLOB NOT NULL,
    nodes BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'decision log entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'decision log entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"""

_ENTRY_COLUMNS = "seq, decision_id, leaf_hash, entry"
_INSERT_ENTRY = f"INSERT INTO entries ({_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?)"


def _describe(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


class SQLiteLogStore:
    """A LogStore on one SQLite file. Use one instance from one thread at a time."""

    _lock: IO[bytes] | None = None

    def __init__(
        self,
        path: str | Path,
        sync: Literal["normal", "full"] = "normal",
        *,
        readonly: bool = False,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.inline_commits = sync == "normal" and not readonly
        self._wal_db: sqlite3.Connection | None = None
        self._saved_size = 0  # tree size of the state row as last written by this store
        self._unsaved: TreeState | None = None  # newer state, written on close
        try:
            if readonly:
                if not self.path.is_file():
                    raise AuditError(f"{self.path}: no decision log here")
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri,
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=busy_timeout,
                )
                self._check_schema()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock = _lock_for_writing(self.path)
                self._db = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=busy_timeout,
                )
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise AuditError(f"{self.path}: cannot switch the log to WAL mode ({mode})")
                self._db.execute(f"PRAGMA synchronous = {sync.upper()}")
                self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                if self.inline_commits:
                    self._db.execute("PRAGMA wal_autocheckpoint = 0")
                self._create_schema()
        except sqlite3.Error as exc:
            self._unlock()
            raise AuditError(f"{self.path}: cannot open decision log: {_describe(exc)}") from None
        except OSError as exc:
            self._unlock()
            raise AuditError(f"{self.path}: cannot open decision log: {exc.strerror}") from None
        except AuditError:
            self._unlock()
            raise

    def _create_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise AuditError(f"{self.path}: decision log schema version {version} is not supported")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_statements(_SCHEMA):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise AuditError(f"{self.path}: not an AtlasGate decision log (schema {version})")

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot read decision log: {_describe(exc)}") from None

    def append_batch(self, entries: Sequence[EntryRow], state: TreeState) -> None:
        """Insert ``entries`` in one transaction; the state row only every STATE_EVERY."""
        db = self._db
        save = state.size - self._saved_size >= STATE_EVERY
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_INSERT_ENTRY, entries)
                if save:
                    _save_state(db, state)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot write decision log: {_describe(exc)}") from None
        if save:
            self._saved_size, self._unsaved = state.size, None
        else:
            self._unsaved = state

    def size(self) -> int:
        row = self._query("SELECT MAX(seq) FROM entries")[0]
        return 0 if row[0] is None else int(row[0]) + 1

    def read_range(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE seq >= ?"
        params: list[int] = [start]
        if end is not None:
            sql += " AND seq < ?"
            params.append(end)
        sql += " ORDER BY seq"
        try:
            cursor = self._db.execute(sql, params)
            while rows := cursor.fetchmany(1024):
                for row in rows:
                    yield _entry(row)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot read decision log: {_describe(exc)}") from None

    def find(self, decision_id: str) -> list[StoredEntry]:
        rows = self._query(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE decision_id = ? ORDER BY seq",
            (decision_id,),
        )
        return [_entry(row) for row in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._query(
            "SELECT seq, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start, end),
        )
        if len(rows) != end - start or (rows and rows[0][0] != start):
            raise AuditError(
                f"{self.path}: entries {start}..{end - 1} are not all present; run `atlasgate audit verify`"
            )
        return [_blob(leaf) for _, leaf in rows]

    def load_state(self) -> TreeState | None:
        rows = self._query("SELECT size, last_leaf, nodes FROM tree_state WHERE id = 1")
        if not rows:
            return None
        size, last_leaf, nodes = rows[0]
        blob = _blob(nodes)
        if len(blob) % HASH_SIZE or len(blob) // HASH_SIZE != int(size).bit_count():
            return None
        split = tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))
        return TreeState(int(size), _blob(last_leaf), split)

    def append_checkpoint(self, tree_size: int, note: str) -> None:
        try:
            self._db.execute("INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)", (tree_size, note))
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot write checkpoint: {_describe(exc)}") from None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._query("SELECT id, tree_size, note FROM checkpoints ORDER BY id")
        return [StoredCheckpoint(int(i), int(s), str(n)) for i, s, n in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._query("SELECT id, tree_size, note FROM checkpoints ORDER BY id DESC LIMIT 1")
        return StoredCheckpoint(int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def checkpoint_wal(self) -> None:
        """Copy committed WAL pages into the database file (a passive SQLite checkpoint).

        Runs on a connection of its own, so it may run on another thread while commits
        go on; it never blocks a writer, and readers keep their snapshots.
        """
        try:
            if self._wal_db is None:
                self._wal_db = sqlite3.connect(self.path, isolation_level=None,
                                               check_same_thread=False)
            self._wal_db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot checkpoint the WAL: {_describe(exc)}") from None

    def close(self) -> None:
        if self._unsaved is not None:
            # Best effort: a stale state only makes the next open read more leaf hashes.
            with contextlib.suppress(sqlite3.Error):
                _save_state(self._db, self._unsaved)
            self._unsaved = None
        for db in (self._wal_db, self._db):
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
        self._wal_db = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _lock_for_writing(path: Path) -> IO[bytes] | None:
    """Hold an exclusive lock beside the database: a log has exactly one writer.

    Two writers would each continue the tree from their own state and fork it. The lock
    is released by the kernel when the process ends, so a crash never leaves it stale.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not available on Windows
        return None
    handle = open(path.with_name(path.name + ".lock"), "ab")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AuditError(
            f"{path}: the decision log is already open for writing by another process "
            "(a log has exactly one writer; give each gateway process its own audit.path)"
        ) from None
    return handle


def _save_state(db: sqlite3.Connection, state: TreeState) -> None:
    db.execute(
        "INSERT OR REPLACE INTO tree_state (id, size, last_leaf, nodes) VALUES (1, ?, ?, ?)",
        (state.size, state.last_leaf, b"".join(state.nodes)),
    )


def _blob(value: object) -> bytes:
    """Bytes of a stored value, whatever type someone with write access gave it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode("utf-8", "surrogateescape")


def _entry(row: tuple[Any, ...]) -> StoredEntry:
    seq, decision_id, leaf, data = row
    return StoredEntry(int(seq), str(decision_id), _blob(leaf), _blob(data))


def _split_statements(script: str) -> list[str]:
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    return statements
