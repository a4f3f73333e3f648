"""The storage interface of the decision log, so SQLite and PostgreSQL are interchangeable.

A store keeps bytes and hashes; it never decides what they mean. Everything it returns
is re-checked by the verifier, so a store needs to be durable, not trusted. Methods are
synchronous: the log calls them from its one writer thread, the CLI from its own.

A ``SharedLogStore`` is appended to by several writers (gateway replicas). Each batch is
built on the tree head as the store holds it under a lock, not on what one writer last
wrote, so the replicas extend one chain and one tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

EntryRow = tuple[int, str, bytes, bytes]
"""(seq, decision id, leaf hash, canonical entry bytes), as written."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    seq: int
    decision_id: str
    leaf_hash: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    id: int
    tree_size: int
    note: str


@dataclass(frozen=True, slots=True)
class TreeState:
    """Where the writer stopped: next seq, the last leaf hash (chain head), compact range."""

    size: int
    last_leaf: bytes
    nodes: tuple[bytes, ...]


@runtime_checkable
class LogStore(Protocol):
    def append_batch(self, entries: Sequence[EntryRow], state: TreeState) -> None:
        """Write entries durably and atomically, or raise AuditError.

        ``state`` is the tree after them: a store may save it with them or less often
        (it only speeds up reopening, which checks it against the stored leaves)."""

    def size(self) -> int:
        """One more than the highest stored seq (0 when empty)."""

    def read_range(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Entries with start <= seq < end, in seq order."""

    def find(self, decision_id: str) -> list[StoredEntry]: ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Stored leaf hashes of seq start..end-1 in order."""

    def load_state(self) -> TreeState | None: ...

    def append_checkpoint(self, tree_size: int, note: str) -> None: ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """All checkpoints in the order they were written."""

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def close(self) -> None: ...


BatchBuilder = Callable[[TreeState], tuple[Sequence[EntryRow], TreeState]]
"""Builds a batch on top of a tree head: the rows to insert and the head after them."""


@runtime_checkable
class SharedLogStore(LogStore, Protocol):
    def append_on_head(self, build: BatchBuilder) -> None:
        """Lock the tree head, build the batch on it, write rows and new head in one commit.

        ``build`` runs inside the transaction, so it may read the store (the leaf hashes
        other writers appended); it may be called more than once, and only the result of
        the last call is written.
        """

    def claim_signer(self, key_fingerprint: str, origin: str) -> None:
        """Record the log's signing key and origin, or raise AuditError if they differ."""
