"""Recompute a decision log from its bytes and say exactly what, if anything, was altered.

Nothing stored is trusted: leaf hashes, the chain and every Merkle root are recomputed
from the entry bytes and compared with what the entries and the signed checkpoints
committed to. The report names the first entry that was modified, deleted, reordered
or truncated, and every checkpoint whose signature or root does not match.

What no verifier can see from the database alone: entries removed from the end of the
log together with the checkpoints that covered them. A checkpoint kept elsewhere (a
*witnessed* checkpoint, saved with ``atlasgate audit checkpoint``) closes that gap: the
log must still hold everything it signed, with the same root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from atlasgate.audit.checkpoint import Checkpoint, open_checkpoint
from atlasgate.audit.encoding import decode_entry
from atlasgate.audit.errors import (
    MalformedCheckpointError,
    MalformedEntryError,
    SignatureError,
    UnknownKeyError,
)
from atlasgate.audit.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from atlasgate.audit.proof import ProofResult, verify_proof
from atlasgate.audit.reader import LogReader
from atlasgate.audit.store import StoredEntry
from atlasgate.audit.writer import GENESIS_LEAF

__all__ = [
    "CheckpointProblem",
    "EntryProblem",
    "ProofResult",
    "VerificationReport",
    "Witness",
    "verify_log",
    "verify_proof",
]

EntryProblemKind = Literal["modified", "deleted", "reordered", "truncated"]
CheckpointProblemKind = Literal[
    "malformed",
    "unknown-key",
    "bad-signature",
    "origin",
    "row-mismatch",
    "root-mismatch",
    "beyond-log",
]


@dataclass(frozen=True, slots=True)
class EntryProblem:
    seq: int
    decision_id: str | None
    kind: EntryProblemKind
    detail: str

    def __str__(self) -> str:
        who = f" (decision {self.decision_id})" if self.decision_id else ""
        return f"entry {self.seq}{who}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class CheckpointProblem:
    checkpoint_id: int
    tree_size: int | None
    timestamp: str | None
    kind: CheckpointProblemKind
    detail: str
    witness: str | None = None  # where a witnessed checkpoint came from; None: the log's own

    def __str__(self) -> str:
        size = f" (size {self.tree_size}" + (f", {self.timestamp})" if self.timestamp else ")")
        which = (f"witnessed checkpoint {self.witness}" if self.witness
                 else f"checkpoint #{self.checkpoint_id}")
        return f"{which}{size}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Witness:
    """A signed checkpoint kept outside the log: its note text and where it came from."""

    source: str
    note: str


@dataclass
class VerificationReport:
    entries: int = 0
    checkpoints: int = 0
    witnessed: int = 0
    verified_checkpoints: int = 0
    root: bytes = EMPTY_ROOT
    latest_verified: Checkpoint | None = None
    first_bad_entry: EntryProblem | None = None
    bad_checkpoints: list[CheckpointProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_bad_entry is None and not self.bad_checkpoints

    @property
    def uncovered(self) -> int:
        """Entries after the latest verified checkpoint: not yet protected by a signature."""
        covered = self.latest_verified.tree_size if self.latest_verified else 0
        return max(0, self.entries - covered)

    def as_dict(self) -> dict[str, Any]:
        latest = self.latest_verified
        return {
            "ok": self.ok,
            "entries": self.entries,
            "root": self.root.hex(),
            "checkpoints": self.checkpoints,
            "witnessed_checkpoints": self.witnessed,
            "verified_checkpoints": self.verified_checkpoints,
            "latest_verified_checkpoint": None
            if latest is None
            else {
                "tree_size": latest.tree_size,
                "root": latest.root.hex(),
                "timestamp": latest.timestamp,
            },
            "uncovered_entries": self.uncovered,
            "first_bad_entry": None
            if self.first_bad_entry is None
            else {
                "seq": self.first_bad_entry.seq,
                "decision_id": self.first_bad_entry.decision_id,
                "kind": self.first_bad_entry.kind,
                "detail": self.first_bad_entry.detail,
            },
            "bad_checkpoints": [
                {
                    "id": p.checkpoint_id,
                    "witness": p.witness,
                    "tree_size": p.tree_size,
                    "timestamp": p.timestamp,
                    "kind": p.kind,
                    "detail": p.detail,
                }
                for p in self.bad_checkpoints
            ],
        }


@dataclass(frozen=True, slots=True)
class _Signed:
    """A checkpoint to check: a row of the log's own table, or a witness (id 0, no row size)."""

    id: int
    tree_size: int | None
    note: str
    witness: str | None = None

    def problem(self, kind: CheckpointProblemKind, detail: str, size: int | None = None,
                timestamp: str | None = None) -> CheckpointProblem:
        return CheckpointProblem(self.id, self.tree_size if size is None else size, timestamp,
                                 kind, detail, self.witness)


def _open_checkpoints(
    signed: list[_Signed],
    public_key: Ed25519PublicKey,
    origin: str | None,
    report: VerificationReport,
) -> dict[int, list[tuple[_Signed, Checkpoint]]]:
    by_size: dict[int, list[tuple[_Signed, Checkpoint]]] = {}
    for row in signed:
        try:
            checkpoint = open_checkpoint(row.note, public_key)
        except MalformedCheckpointError as exc:
            report.bad_checkpoints.append(row.problem("malformed", str(exc)))
            continue
        except UnknownKeyError as exc:
            report.bad_checkpoints.append(row.problem("unknown-key", str(exc)))
            continue
        except SignatureError as exc:
            report.bad_checkpoints.append(row.problem("bad-signature", str(exc)))
            continue
        if origin is not None and checkpoint.origin != origin:
            report.bad_checkpoints.append(row.problem(
                "origin", f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}"))
            continue
        if row.tree_size is not None and checkpoint.tree_size != row.tree_size:
            report.bad_checkpoints.append(row.problem(
                "row-mismatch",
                f"stored size {row.tree_size} disagrees with the signed size {checkpoint.tree_size}"))
            continue
        by_size.setdefault(checkpoint.tree_size, []).append((row, checkpoint))
    return by_size


class _EntryChecker:
    """Walks entries in stored order and remembers the first thing that is wrong."""

    def __init__(self) -> None:
        self.problem: EntryProblem | None = None
        self.previous: StoredEntry | None = None
        self.previous_leaf = GENESIS_LEAF
        self._misplaced: tuple[int, int, str] | None = None
        self._seen_later: set[int] = set()

    def check(self, position: int, row: StoredEntry, leaf: bytes) -> None:
        if self._misplaced is not None:
            with contextlib.suppress(MalformedEntryError):
                self._seen_later.add(decode_entry(row.data).seq)
            return
        if self.problem is None:
            self._check(position, row, leaf)

    def _set(self, seq: int, decision_id: str | None, kind: EntryProblemKind, detail: str) -> None:
        self.problem = EntryProblem(seq, decision_id, kind, detail)

    def _check(self, position: int, row: StoredEntry, leaf: bytes) -> None:
        if row.seq != position:
            if row.seq > position:
                missing = (
                    f"entry {position} is missing"
                    if row.seq == position + 1
                    else f"entries {position}..{row.seq - 1} are missing"
                )
                self._set(position, None, "deleted", f"{missing}; the next stored entry is {row.seq}")
            else:
                self._set(position, row.decision_id, "modified", f"stored under seq {row.seq}")
            return
        try:
            entry = decode_entry(row.data)
        except MalformedEntryError as exc:
            self._set(position, row.decision_id, "modified", str(exc))
            return
        if entry.seq != position:
            self._misplaced = (position, entry.seq, entry.decision_id)
            return
        if leaf != row.leaf_hash:
            self._set(
                position,
                entry.decision_id,
                "modified",
                "entry bytes do not match the leaf hash recorded when it was written",
            )
            return
        if entry.prev != self.previous_leaf.hex():
            if self.previous is None:
                self._set(position, entry.decision_id, "modified", "first entry does not start the chain")
            else:
                self._set(
                    position - 1,
                    self.previous.decision_id,
                    "modified",
                    f"entry {position - 1} no longer hashes to the value entry {position} recorded for it",
                )
            return
        if entry.decision_id != row.decision_id:
            self._set(
                position,
                entry.decision_id,
                "modified",
                f"the stored decision id {row.decision_id!r} differs from the entry's",
            )
            return
        self.previous = row
        self.previous_leaf = leaf

    def finish(self) -> None:
        if self._misplaced is None:
            return
        position, found, decision_id = self._misplaced
        if found < position or position in self._seen_later:
            self._set(
                position,
                decision_id,
                "reordered",
                f"position {position} holds entry {found}",
            )
        else:
            self._set(
                position,
                None,
                "deleted",
                f"entry {position} is missing; entries after it were renumbered "
                f"(position {position} holds entry {found})",
            )


def verify_log(
    reader: LogReader, public_key: Ed25519PublicKey, *, origin: str | None = None,
    witnesses: Sequence[Witness] = (),
) -> VerificationReport:
    """Recompute the whole log and check it against every signed checkpoint.

    ``witnesses`` are checkpoints kept outside the log; they are held to the same test
    as its own, so a log cut back together with its checkpoints still fails.
    """
    report = VerificationReport()
    stored = reader.checkpoints()
    report.checkpoints = len(stored)
    report.witnessed = len(witnesses)
    signed = [_Signed(row.id, row.tree_size, row.note) for row in stored]
    signed += [_Signed(0, None, w.note, w.source) for w in witnesses]
    by_size = _open_checkpoints(signed, public_key, origin, report)

    tree = CompactRange()
    checker = _EntryChecker()
    good_sizes: list[int] = []

    def compare(size: int) -> None:
        root = tree.root()
        for row, checkpoint in by_size.get(size, ()):
            if checkpoint.root == root:
                report.verified_checkpoints += 1
                good_sizes.append(size)
                latest = report.latest_verified
                if latest is None or checkpoint.tree_size >= latest.tree_size:
                    report.latest_verified = checkpoint
            else:
                report.bad_checkpoints.append(row.problem(
                    "root-mismatch",
                    f"the stored entries 0..{size - 1} hash to {root.hex()[:16]}…, "
                    f"but the checkpoint signed {checkpoint.root.hex()[:16]}…",
                    size, checkpoint.timestamp))

    compare(0)
    position = 0
    for row in reader.entries():
        leaf = leaf_hash(row.data)
        checker.check(position, row, leaf)
        tree.append(leaf)
        position += 1
        if position in by_size:
            compare(position)
    checker.finish()
    report.entries = position
    report.root = tree.root()

    beyond = sorted(size for size in by_size if size > position)
    for size in beyond:
        for source, checkpoint in by_size[size]:
            report.bad_checkpoints.append(source.problem(
                "beyond-log", f"signed for {size} entries but the log holds {position}",
                size, checkpoint.timestamp))
    first = checker.problem
    if first is None and beyond:
        latest = by_size[beyond[-1]][0][1]
        first = EntryProblem(
            position,
            None,
            "truncated",
            f"the log ends after {position} entries, but the checkpoint signed at "
            f"{latest.timestamp} covers {latest.tree_size}",
        )
    if first is None:
        mismatched = sorted(
            p.tree_size
            for p in report.bad_checkpoints
            if p.kind == "root-mismatch" and p.tree_size is not None
        )
        if mismatched:
            end = mismatched[0]
            start = max((s for s in good_sizes if s < end), default=0)
            first = EntryProblem(
                start,
                None,
                "modified",
                f"entries {start}..{end - 1} were rewritten with a consistent hash chain; "
                f"they no longer match the checkpoint of size {end}",
            )
    report.first_bad_entry = first
    report.bad_checkpoints.sort(key=lambda p: (p.witness is not None, p.checkpoint_id))
    return report
