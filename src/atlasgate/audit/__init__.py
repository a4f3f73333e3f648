"""The tamper-evident decision log.

Every decision is appended as a canonical JSON entry, chained to the previous entry,
hashed into an RFC 6962 Merkle tree and covered by Ed25519-signed checkpoints.
``DecisionLog`` writes; ``open_reader`` and ``verify_log`` read and check.
"""

from __future__ import annotations

from atlasgate.audit.checkpoint import Checkpoint, load_or_create_signing_key
from atlasgate.audit.errors import AuditError, EncodingError, LogClosedError, VerificationError
from atlasgate.audit.log import DecisionLog
from atlasgate.audit.reader import LogReader, open_reader
from atlasgate.audit.settings import AuditSettings
from atlasgate.audit.store import LogStore
from atlasgate.audit.verify import VerificationReport, verify_log, verify_proof
from atlasgate.audit.writer import AppendReceipt, SignedCheckpoint

__all__ = [
    "AppendReceipt",
    "AuditError",
    "AuditSettings",
    "Checkpoint",
    "DecisionLog",
    "EncodingError",
    "LogClosedError",
    "LogReader",
    "LogStore",
    "SignedCheckpoint",
    "VerificationError",
    "VerificationReport",
    "load_or_create_signing_key",
    "open_reader",
    "verify_log",
    "verify_proof",
]
