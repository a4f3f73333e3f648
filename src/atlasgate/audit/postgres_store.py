"""The shared decision-log store: tables in PostgreSQL that several gateway replicas append to.

Every batch is one transaction that locks the single tree-head row (``SELECT … FOR
UPDATE``), builds the batch on the head it finds, and inserts the entries and moves the head
forward in one statement. Replicas therefore take turns: sequence numbers stay unique and
contiguous, and the hash chain and Merkle tree stay one, whichever replica wrote last.
When a replica wrote the last batch itself it first tries one statement that inserts the
batch only if the head has not moved since (its row lock serialises it the same way),
and falls back to the locked path when another replica got there first; while replicas
keep interleaving it goes straight to the locked path.

Entries, checkpoints and the signer record are append-only by trigger (UPDATE, DELETE
and TRUNCATE are refused) and the tree head can only move forward. Like the SQLite
triggers these guard against mistakes, not against the tables' owner, who can disable
them; run the gateway as a role that does not own the tables, and rely on verification.
A commit returns once the server has it, so an acknowledged decision survives the
gateway's death; whether it also survives the server's is ``synchronous_commit``'s call.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict

from atlasgate.audit.errors import AuditError
from atlasgate.audit.merkle import HASH_SIZE, CompactRange
from atlasgate.audit.store import BatchBuilder, StoredCheckpoint, StoredEntry, TreeState

logger = logging.getLogger("atlasgate.audit")

SCHEMA_VERSION = 1
PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,39}")
PAGE = 2000
_GENESIS_LEAF = bytes(HASH_SIZE)


def schema_statements(prefix: str) -> list[str]:
    """The DDL of one log, in order; every name starts with ``prefix``."""
    p = prefix
    guarded = ("entries", "checkpoints", "signer")
    statements = [
        f"""CREATE TABLE {p}entries (
            seq BIGINT PRIMARY KEY CHECK (seq >= 0),
            decision_id TEXT NOT NULL,
            leaf_hash BYTEA NOT NULL,
            entry BYTEA NOT NULL)""",
        f"CREATE INDEX {p}entries_decision_id ON {p}entries (decision_id)",
        f"""CREATE TABLE {p}checkpoints (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tree_size BIGINT NOT NULL,
            note TEXT NOT NULL)""",
        f"""CREATE TABLE {p}tree_head (
            id SMALLINT PRIMARY KEY CHECK (id = 1),
            schema_version INTEGER NOT NULL,
            size BIGINT NOT NULL,
            last_leaf BYTEA NOT NULL,
            nodes BYTEA NOT NULL)""",
        f"""CREATE TABLE {p}signer (
            id SMALLINT PRIMARY KEY CHECK (id = 1),
            key_fingerprint TEXT NOT NULL,
            origin TEXT NOT NULL)""",
        f"""CREATE FUNCTION {p}append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'decision log table % is append-only (% refused)',
                    TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
            END $$""",
        f"""CREATE FUNCTION {p}head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.size < OLD.size OR NEW.schema_version <> OLD.schema_version
                        OR NEW.id <> OLD.id THEN
                    RAISE EXCEPTION 'decision log tree head only moves forward (size % to %)',
                        OLD.size, NEW.size USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END $$""",
        f"""CREATE TRIGGER {p}tree_head_forward BEFORE UPDATE ON {p}tree_head
            FOR EACH ROW EXECUTE FUNCTION {p}head_forward()""",
        f"""CREATE TRIGGER {p}tree_head_kept BEFORE DELETE ON {p}tree_head
            FOR EACH ROW EXECUTE FUNCTION {p}append_only()""",
        f"""CREATE TRIGGER {p}tree_head_no_truncate BEFORE TRUNCATE ON {p}tree_head
            FOR EACH STATEMENT EXECUTE FUNCTION {p}append_only()""",
        f"""INSERT INTO {p}tree_head (id, schema_version, size, last_leaf, nodes)
            VALUES (1, {SCHEMA_VERSION}, 0, '\\x{_GENESIS_LEAF.hex()}'::bytea, ''::bytea)""",
    ]
    for table in guarded:
        statements += [
            f"""CREATE TRIGGER {p}{table}_append_only BEFORE UPDATE OR DELETE ON {p}{table}
                FOR EACH ROW EXECUTE FUNCTION {p}append_only()""",
            f"""CREATE TRIGGER {p}{table}_no_truncate BEFORE TRUNCATE ON {p}{table}
                FOR EACH STATEMENT EXECUTE FUNCTION {p}append_only()""",
        ]
    return statements


def describe_dsn(dsn: str) -> str:
    """Where the log lives, for messages: never includes the password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise AuditError(
            "audit.dsn is not a valid PostgreSQL connection string "
            "(postgresql://[user@]host[:port]/dbname, or key=value pairs)"
        ) from None
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


def _reason(exc: psycopg.Error) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresLogStore:
    """A LogStore on PostgreSQL tables named ``<prefix>entries`` and so on.

    One instance holds one connection and is used from one thread at a time (the log's
    writer thread, or the CLI). A broken connection is replaced on the next call.
    """

    def __init__(
        self,
        dsn: str,
        table_prefix: str = "atlasgate_",
        *,
        sync: Literal["normal", "full"] = "normal",
        readonly: bool = False,
        busy_timeout: float = 5.0,
        connect_timeout: int = 10,
    ) -> None:
        if not PREFIX.fullmatch(table_prefix):
            raise AuditError(
                f"table prefix {table_prefix!r} must be lowercase letters, digits and '_' "
                "(at most 40, not starting with a digit)"
            )
        self.dsn = dsn
        self.prefix = table_prefix
        self.sync = sync
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self.connect_timeout = connect_timeout
        self.location = f"{describe_dsn(dsn)} (tables {table_prefix}*)"
        self._conn: psycopg.Connection[Any] | None = None
        self._known_head: TreeState | None = None
        self._contended = False
        p = table_prefix
        self._entries = f"{p}entries"
        self._checkpoints = f"{p}checkpoints"
        self._head = f"{p}tree_head"
        self._signer = f"{p}signer"
        append = """
            WITH head AS (
                UPDATE {p}tree_head SET size = %(size)s, last_leaf = %(last)s, nodes = %(nodes)s
                WHERE id = 1{condition}
                RETURNING 1)
            INSERT INTO {p}entries (seq, decision_id, leaf_hash, entry)
            SELECT * FROM unnest(%(seqs)s::bigint[], %(ids)s::text[],
                                 %(leaves)s::bytea[], %(entries)s::bytea[])
            WHERE EXISTS (SELECT 1 FROM head)"""
        self._append_sql = append.format(p=p, condition="")
        self._append_if_unmoved_sql = append.format(
            p=p, condition=" AND size = %(old_size)s AND last_leaf = %(old_last)s"
        )
        conn = self._connect()
        try:
            if readonly:
                self._check_schema(conn)
            else:
                self._create_schema(conn)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresLogStore({self.location})"

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        self._known_head = None
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, **self._defaults())
        except psycopg.Error as exc:
            raise AuditError(f"{self.location}: cannot connect: {_reason(exc)}") from None
        try:
            lock_ms = max(1, int(self.busy_timeout * 1000))
            conn.execute(f"SET lock_timeout = {lock_ms}")
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            elif self.sync == "full":
                self._require_durable_commit(conn)
        except psycopg.Error as exc:
            conn.close()
            raise AuditError(f"{self.location}: cannot configure the connection: {_reason(exc)}") from None
        self._conn = conn
        return conn

    def _defaults(self) -> dict[str, Any]:
        """Connection parameters the DSN leaves unset."""
        given = conninfo_to_dict(self.dsn)
        role = "atlasgate-audit-reader" if self.readonly else "atlasgate-audit"
        defaults = {
            "connect_timeout": self.connect_timeout,
            "application_name": f"{role} {self.prefix}",
        }
        return {key: value for key, value in defaults.items() if key not in given}

    def _require_durable_commit(self, conn: psycopg.Connection[Any]) -> None:
        setting = conn.execute("SHOW synchronous_commit").fetchone()
        if setting is not None and setting[0] == "off":
            conn.execute("SET synchronous_commit = on")
        fsync = conn.execute("SHOW fsync").fetchone()
        if fsync is not None and fsync[0] == "off":
            logger.warning(
                "%s: the server runs with fsync=off; audit.sync=full cannot make commits "
                "survive a power loss there",
                self.location,
            )

    def _schema_version(self, conn: psycopg.Connection[Any]) -> int | None:
        row = conn.execute("SELECT to_regclass(%s)", (self._head,)).fetchone()
        if row is None or row[0] is None:
            return None
        version = conn.execute(f"SELECT schema_version FROM {self._head} WHERE id = 1").fetchone()
        return -1 if version is None else int(version[0])

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"atlasgate.audit:{self.prefix}",)
                )
                version = self._schema_version(conn)
                if version is None:
                    for statement in schema_statements(self.prefix):
                        conn.execute(statement)
                    return
        except psycopg.Error as exc:
            raise AuditError(
                f"{self.location}: cannot create the decision log tables: {_reason(exc)}"
            ) from None
        if version != SCHEMA_VERSION:
            raise AuditError(f"{self.location}: decision log schema version {version} is not supported")

    def _check_schema(self, conn: psycopg.Connection[Any]) -> None:
        try:
            version = self._schema_version(conn)
        except psycopg.Error as exc:
            raise AuditError(f"{self.location}: cannot read decision log: {_reason(exc)}") from None
        if version is None:
            raise AuditError(f"{self.location}: no decision log here")
        if version != SCHEMA_VERSION:
            raise AuditError(f"{self.location}: not an AtlasGate decision log (schema {version})")

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise AuditError(f"{self.location}: cannot read decision log: {_reason(exc)}") from None

    def claim_signer(self, key_fingerprint: str, origin: str) -> None:
        try:
            conn = self._connect()
            conn.execute(
                f"INSERT INTO {self._signer} (id, key_fingerprint, origin) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (key_fingerprint, origin),
            )
            row = conn.execute(f"SELECT key_fingerprint, origin FROM {self._signer} WHERE id = 1").fetchone()
        except psycopg.Error as exc:
            raise AuditError(f"{self.location}: cannot read the log's signer: {_reason(exc)}") from None
        if row is not None and (row[0], row[1]) != (key_fingerprint, origin):
            raise AuditError(
                f"{self.location}: this log is signed by key {row[0]} as origin {row[1]!r}, but "
                f"audit.signing_key is {key_fingerprint} and audit.origin {origin!r}; every "
                "replica writing one log must share the same signing key and origin"
            )

    def append_on_head(self, build: BatchBuilder) -> None:
        conn = self._connect()
        known = self._known_head
        try:
            if known is not None and not self._contended:
                rows, state = build(known)
                if rows and self._append_if_unmoved(conn, known, rows, state):
                    self._known_head = state
                    return
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(f"SELECT size, last_leaf, nodes FROM {self._head} WHERE id = 1 FOR UPDATE")
                head = self._checked_head(cursor, cursor.fetchone())
                self._contended = known is not None and head != known
                rows, state = build(head)
                self._insert(conn, self._append_sql, rows, state)
        except psycopg.Error as exc:
            self._known_head = None
            raise AuditError(f"{self.location}: cannot write decision log: {_reason(exc)}") from None
        except BaseException:
            self._known_head = None
            raise
        self._known_head = state

    def _append_if_unmoved(
        self,
        conn: psycopg.Connection[Any],
        known: TreeState,
        rows: Sequence[tuple[int, str, bytes, bytes]],
        state: TreeState,
    ) -> bool:
        """One statement, one round trip: the batch goes in only if the head is still ``known``.

        When this process wrote last, which is the common case, that is the whole append.
        Otherwise nothing is written and the caller takes the lock and rebuilds the batch.
        """
        inserted = self._insert(
            conn,
            self._append_if_unmoved_sql,
            rows,
            state,
            old_size=known.size,
            old_last=known.last_leaf,
        )
        return inserted == len(rows)

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        sql: str,
        rows: Sequence[tuple[int, str, bytes, bytes]],
        state: TreeState,
        **condition: object,
    ) -> int:
        """Insert ``rows`` and move the head to ``state`` in one statement; rows inserted."""
        seqs, ids, leaves, data = zip(*rows, strict=True) if rows else ((), (), (), ())
        cursor = conn.execute(
            sql,
            {
                "size": state.size,
                "last": state.last_leaf,
                "nodes": b"".join(state.nodes),
                "seqs": list(seqs),
                "ids": list(ids),
                "leaves": list(leaves),
                "entries": list(data),
                **condition,
            },
        )
        return cursor.rowcount

    def _checked_head(self, cursor: psycopg.Cursor[Any], row: tuple[Any, ...] | None) -> TreeState:
        """The locked head; a malformed one is rebuilt from the stored leaf hashes."""
        if row is None:
            raise AuditError(f"{self.location}: the tree head row is missing; run `atlasgate audit verify`")
        head = _state(row)
        if head is not None:
            return head
        logger.warning("%s: the tree head is malformed; rebuilding it from the entries", self.location)
        cursor.execute(f"SELECT seq, leaf_hash FROM {self._entries} ORDER BY seq")
        leaves = []
        for position, (seq, leaf) in enumerate(cursor):
            if int(seq) != position:
                raise AuditError(
                    f"{self.location}: entry {position} is missing; run `atlasgate audit verify`"
                )
            leaves.append(bytes(leaf))
        tree = CompactRange.from_leaves(leaves)
        return TreeState(tree.size, leaves[-1] if leaves else _GENESIS_LEAF, tree.nodes)

    def append_batch(self, entries: Sequence[tuple[int, str, bytes, bytes]], state: TreeState) -> None:
        """Append rows built elsewhere; refused unless they continue the stored head exactly."""

        def build(head: TreeState) -> tuple[Sequence[tuple[int, str, bytes, bytes]], TreeState]:
            first = entries[0][0] if entries else state.size
            if head.size != first:
                raise AuditError(
                    f"{self.location}: the log holds {head.size} entries; a batch starting at "
                    f"{first} would not continue it"
                )
            return entries, state

        self.append_on_head(build)

    def size(self) -> int:
        row = self._query(f"SELECT MAX(seq) FROM {self._entries}")[0]
        return 0 if row[0] is None else int(row[0]) + 1

    def read_range(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        sql = f"SELECT seq, decision_id, leaf_hash, entry FROM {self._entries} WHERE seq >= %s"
        bound = ""
        if end is not None:
            bound = " AND seq < %s"
        page_sql = f"{sql}{bound} ORDER BY seq LIMIT {PAGE}"
        next_seq = start
        while True:
            params: list[int] = [next_seq] if end is None else [next_seq, end]
            rows = self._query(page_sql, params)
            for row in rows:
                yield _entry(row)
            if len(rows) < PAGE:
                return
            next_seq = int(rows[-1][0]) + 1

    def find(self, decision_id: str) -> list[StoredEntry]:
        rows = self._query(
            f"SELECT seq, decision_id, leaf_hash, entry FROM {self._entries} "
            "WHERE decision_id = %s ORDER BY seq",
            (decision_id,),
        )
        return [_entry(row) for row in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._query(
            f"SELECT seq, leaf_hash FROM {self._entries} WHERE seq >= %s AND seq < %s ORDER BY seq",
            (start, end),
        )
        if len(rows) != max(0, end - start) or (rows and rows[0][0] != start):
            raise AuditError(
                f"{self.location}: entries {start}..{end - 1} are not all present; "
                "run `atlasgate audit verify`"
            )
        return [bytes(leaf) for _, leaf in rows]

    def load_state(self) -> TreeState | None:
        rows = self._query(f"SELECT size, last_leaf, nodes FROM {self._head} WHERE id = 1")
        return _state(rows[0]) if rows else None

    def append_checkpoint(self, tree_size: int, note: str) -> None:
        try:
            self._connect().execute(
                f"INSERT INTO {self._checkpoints} (tree_size, note) VALUES (%s, %s)", (tree_size, note)
            )
        except psycopg.Error as exc:
            raise AuditError(f"{self.location}: cannot write checkpoint: {_reason(exc)}") from None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._query(f"SELECT id, tree_size, note FROM {self._checkpoints} ORDER BY id")
        return [StoredCheckpoint(int(i), int(s), str(n)) for i, s, n in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._query(f"SELECT id, tree_size, note FROM {self._checkpoints} ORDER BY id DESC LIMIT 1")
        return StoredCheckpoint(int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def _state(row: tuple[Any, ...]) -> TreeState | None:
    size, last_leaf, nodes = int(row[0]), bytes(row[1]), bytes(row[2])
    if size < 0 or len(last_leaf) != HASH_SIZE:
        return None
    if len(nodes) % HASH_SIZE or len(nodes) // HASH_SIZE != size.bit_count():
        return None
    split = tuple(nodes[i : i + HASH_SIZE] for i in range(0, len(nodes), HASH_SIZE))
    return TreeState(size, last_leaf, split)


def _entry(row: tuple[Any, ...]) -> StoredEntry:
    seq, decision_id, leaf, data = row
    return StoredEntry(int(seq), str(decision_id), bytes(leaf), bytes(data))
