"""Portable inclusion proofs: one JSON document that anyone can check offline.

The document carries the entry's canonical bytes, its leaf index, the audit path, and
the signed checkpoint it leads to, plus the signer's public key for convenience. A
verifier that pins its own copy of the public key needs nothing else: not the database,
not the gateway, not this library (the hashing is RFC 6962 and the note is C2SP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from atlasgate.audit.checkpoint import (
    Checkpoint,
    open_checkpoint,
    public_key_fingerprint,
    public_key_from_pem,
    public_key_pem,
)
from atlasgate.audit.encoding import LogEntry, decode_entry
from atlasgate.audit.errors import (
    AuditError,
    CheckpointError,
    IndexOutOfRangeError,
    ProofError,
    VerificationError,
)
from atlasgate.audit.merkle import inclusion_proof, leaf_hash, verify_inclusion
from atlasgate.audit.reader import LogReader
from atlasgate.audit.store import StoredEntry

PROOF_TYPE = "atlasgate.inclusion-proof/v1"


@dataclass(frozen=True, slots=True)
class ProofResult:
    entry: LogEntry
    checkpoint: Checkpoint
    key_fingerprint: str
    key_embedded: bool

    @property
    def decision_id(self) -> str:
        return self.entry.decision_id


def build_inclusion_proof(
    reader: LogReader, stored: StoredEntry, public_key: Ed25519PublicKey
) -> dict[str, Any]:
    """Proof of ``stored`` against the latest checkpoint that covers it and verifies."""
    checkpoint = None
    for row in reversed(reader.checkpoints()):
        if row.tree_size <= stored.seq:
            continue
        try:
            checkpoint = open_checkpoint(row.note, public_key)
        except CheckpointError:
            continue
        if checkpoint.tree_size == row.tree_size:
            note = row.note
            break
        checkpoint = None
    if checkpoint is None:
        latest = reader.latest_checkpoint()
        covered = latest.tree_size if latest else 0
        raise AuditError(
            f"entry {stored.seq} is not yet covered by a signed checkpoint (the latest covers "
            f"{covered} entries); a new one is written every checkpoint interval and on shutdown"
        )
    leaf = leaf_hash(stored.data)
    leaves = reader.leaf_hashes(0, checkpoint.tree_size)
    leaves[stored.seq] = leaf
    path = inclusion_proof(stored.seq, leaves)
    try:
        verify_inclusion(stored.seq, checkpoint.tree_size, leaf, path, checkpoint.root)
    except ProofError as exc:
        raise VerificationError(
            f"entry {stored.seq} does not prove against the checkpoint of size "
            f"{checkpoint.tree_size} ({exc}); run `atlasgate audit verify`"
        ) from None
    return {
        "type": PROOF_TYPE,
        "decision_id": stored.decision_id,
        "leaf_index": stored.seq,
        "tree_size": checkpoint.tree_size,
        "entry": stored.data.decode("utf-8"),
        "leaf_hash": leaf.hex(),
        "audit_path": [node.hex() for node in path],
        "checkpoint": note,
        "public_key": public_key_pem(public_key),
    }


def _field(proof: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = proof.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProofError(f"proof field {name!r} is missing or has the wrong type")
    return value


def _hash(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise ProofError(f"{what} must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ProofError(f"{what} must be 64 hex digits") from None


def verify_proof(
    proof: Mapping[str, Any] | str | bytes, public_key: Ed25519PublicKey | None = None
) -> ProofResult:
    """Check an inclusion proof offline; raises a VerificationError subclass if it fails.

    Without ``public_key`` the key embedded in the proof is used, which shows only that
    the proof is internally consistent; pin the log's key to show it came from the log.
    """
    if isinstance(proof, str | bytes):
        try:
            proof = orjson.loads(proof)
        except orjson.JSONDecodeError as exc:
            raise ProofError(f"proof is not JSON: {exc}") from None
    if not isinstance(proof, Mapping):
        raise ProofError("proof must be a JSON object")
    if proof.get("type") != PROOF_TYPE:
        raise ProofError(f"not an AtlasGate inclusion proof (type must be {PROOF_TYPE!r})")
    index = _field(proof, "leaf_index", int)
    size = _field(proof, "tree_size", int)
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is not below tree size {size}")
    data = _field(proof, "entry", str).encode("utf-8")
    entry = decode_entry(data)
    if entry.seq != index:
        raise ProofError(f"the entry is seq {entry.seq}, but the proof is for leaf {index}")
    decision_id = proof.get("decision_id")
    if decision_id is not None and decision_id != entry.decision_id:
        raise ProofError(f"the entry is decision {entry.decision_id!r}, not {decision_id!r}")
    leaf = leaf_hash(data)
    if "leaf_hash" in proof and _hash(proof["leaf_hash"], "leaf_hash") != leaf:
        raise ProofError("leaf_hash does not match the entry bytes")
    path_field = _field(proof, "audit_path", list)
    path = [_hash(node, f"audit_path[{i}]") for i, node in enumerate(path_field)]
    embedded = public_key is None
    if public_key is None:
        public_key = public_key_from_pem(_field(proof, "public_key", str), "proof public_key")
    checkpoint = open_checkpoint(_field(proof, "checkpoint", str), public_key)
    if checkpoint.tree_size != size:
        raise ProofError(
            f"the proof is for tree size {size}, but its checkpoint signs {checkpoint.tree_size}"
        )
    verify_inclusion(index, size, leaf, path, checkpoint.root)
    return ProofResult(entry, checkpoint, public_key_fingerprint(public_key), embedded)
