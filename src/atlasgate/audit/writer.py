"""The writer side of the log: sequence numbers, the hash chain, the tree, checkpoints.

Only the log's writer thread calls into a ``TreeWriter``. A batch is assembled against a
copy of the state and the state advances only after the store has committed it, so a
failed write leaves no gap: the next batch reuses the same sequence numbers.

On a ``SharedLogStore`` the batch is built inside the store's transaction on the tree
head it has locked. When another replica appended since this one last wrote, the head
is ahead of the in-memory tree: the writer reads the leaf hashes appended since, extends
its own tree with them and continues from there.
"""

from __future__ import annotations

import binascii
import logging
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atlasgate.audit.checkpoint import Checkpoint, parse_note, sign_checkpoint
from atlasgate.audit.encoding import entry_head, format_timestamp, join_entry
from atlasgate.audit.errors import AuditError
from atlasgate.audit.merkle import HASH_SIZE, CompactRange, leaf_hash
from atlasgate.audit.store import EntryRow, LogStore, SharedLogStore, TreeState

GENESIS_LEAF = bytes(HASH_SIZE)

logger = logging.getLogger("atlasgate.audit")


@dataclass(frozen=True, slots=True)
class AppendReceipt:
    """Proof of acknowledgement: the entry's position and leaf hash, durable on return."""

    seq: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


class TreeWriter:
    def __init__(self, store: LogStore, key: Ed25519PrivateKey, origin: str) -> None:
        self.store = store
        self.key = key
        self.origin = origin
        self.tree = CompactRange()
        self.last_leaf = GENESIS_LEAF
        self.last_checkpoint: SignedCheckpoint | None = None
        self.shared = isinstance(store, SharedLogStore)
        self._resume()

    @property
    def size(self) -> int:
        return self.tree.size

    @property
    def checkpointed_size(self) -> int | None:
        return None if self.last_checkpoint is None else self.last_checkpoint.tree_size

    def _resume(self) -> None:
        """Rebuild the tree from the saved state, extended by the entries stored after it.

        A store may save its state less often than it commits (SQLite does), so the state
        may end before the log does. It is used only where the stored leaf at its end is
        its ``last_leaf``; otherwise the tree is rebuilt from every stored leaf hash.
        """
        state = self.store.load_state()
        # Other replicas may append meanwhile: the head is one consistent point to start from.
        size = state.size if self.shared and state is not None else self.store.size()
        tree, last = CompactRange(), GENESIS_LEAF
        if (
            state is not None
            and 0 < state.size <= size
            and self.store.leaf_hashes(state.size - 1, state.size)[0] == state.last_leaf
        ):
            tree, last = CompactRange(state.size, state.nodes), state.last_leaf
        leaves = self.store.leaf_hashes(tree.size, size) if tree.size < size else []
        for leaf in leaves:
            tree.append(leaf)
        self.tree = tree
        self.last_leaf = leaves[-1] if leaves else last
        stored = self.store.latest_checkpoint()
        if stored is not None:
            try:
                checkpoint, _, _ = parse_note(stored.note)
            except AuditError:
                return
            self.last_checkpoint = SignedCheckpoint(checkpoint, stored.note)

    def write(self, batch: list[tuple[str, bytes]]) -> list[AppendReceipt]:
        if self.shared:
            return self._write_shared(batch)
        tree = self.tree.copy()
        rows, receipts = _assemble(tree, self.last_leaf, batch)
        last = _last_leaf(rows, self.last_leaf)
        self.store.append_batch(rows, TreeState(tree.size, last, tree.nodes))
        self.tree = tree
        self.last_leaf = last
        return receipts

    def _write_shared(self, batch: list[tuple[str, bytes]]) -> list[AppendReceipt]:
        built: list[tuple[CompactRange, bytes, list[AppendReceipt]]] = []

        def build(head: TreeState) -> tuple[list[EntryRow], TreeState]:
            tree, prev = self._catch_up(head)
            rows, receipts = _assemble(tree, prev, batch)
            last = _last_leaf(rows, prev)
            built[:] = [(tree, last, receipts)]
            return rows, TreeState(tree.size, last, tree.nodes)

        store: SharedLogStore = self.store  # type: ignore[assignment]
        store.append_on_head(build)
        self.tree, self.last_leaf, receipts = built[0]
        return receipts

    def _catch_up(self, head: TreeState) -> tuple[CompactRange, bytes]:
        """This writer's tree extended to the shared head, from the stored leaf hashes.

        The head says where the log ends; the tree itself is recomputed from the leaves
        other replicas appended, so what this writer signs never rests on the head's copy.
        """
        tree = self.tree.copy()
        if head.size == tree.size and head.last_leaf == self.last_leaf:
            return tree, self.last_leaf
        if head.size < tree.size:
            raise AuditError(
                f"the shared log ends at {head.size} entries, but this writer has written "
                f"{tree.size}; it was rolled back or altered: run `atlasgate audit verify`"
            )
        leaves = self.store.leaf_hashes(tree.size, head.size)
        for leaf in leaves:
            tree.append(leaf)
        last = leaves[-1] if leaves else self.last_leaf
        if last != head.last_leaf or tree.nodes != head.nodes:
            logger.warning(
                "the shared tree head at size %d disagrees with the stored entries; "
                "continuing from the entries",
                head.size,
            )
        return tree, last

    def checkpoint(self) -> SignedCheckpoint:
        """Sign the current tree, unless the latest checkpoint already covers it."""
        if self.last_checkpoint is not None and self.last_checkpoint.tree_size == self.size:
            return self.last_checkpoint
        checkpoint = Checkpoint(
            origin=self.origin,
            tree_size=self.size,
            root=self.tree.root(),
            timestamp=format_timestamp(time.time_ns()),
        )
        note = sign_checkpoint(checkpoint, self.key)
        self.store.append_checkpoint(checkpoint.tree_size, note)
        self.last_checkpoint = SignedCheckpoint(checkpoint, note)
        return self.last_checkpoint


def _assemble(
    tree: CompactRange, prev: bytes, batch: list[tuple[str, bytes]]
) -> tuple[list[EntryRow], list[AppendReceipt]]:
    """Chain and hash ``batch`` onto ``tree`` (which it advances) after leaf ``prev``."""
    head = entry_head(format_timestamp(time.time_ns()))
    hexlify, append = binascii.hexlify, tree.append
    seq = tree.size
    rows: list[EntryRow] = []
    receipts = []
    for decision_id, record_bytes in batch:
        data = join_entry(head, hexlify(prev), record_bytes, seq)
        prev = leaf_hash(data)
        append(prev)
        rows.append((seq, decision_id, prev, data))
        receipts.append(AppendReceipt(seq, prev))
        seq += 1
    return rows, receipts


def _last_leaf(rows: list[EntryRow], before: bytes) -> bytes:
    return rows[-1][2] if rows else before
