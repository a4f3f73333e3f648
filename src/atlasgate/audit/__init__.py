"""The tamper-evident decision log.

Every decision is appended as a canonical JSON entry, chained to the previous entry,
hashed into an RFC 6962 Merkle tree and covered by Ed25519-signed checkpoints, in one
SQLite file or in PostgreSQL tables shared by several gateway replicas. ``DecisionLog``
writes; ``open_log_reader`` (or ``open_reader`` for a SQLite file) and ``verify_log``
read and check.
"""

from __future__ import annotations

from atlasgate.audit.checkpoint import Checkpoint, load_or_create_signing_key
from atlasgate.audit.errors import AuditError, EncodingError, LogClosedError, VerificationError
from atlasgate.audit.log import DecisionLog
from atlasgate.audit.reader import LogReader, open_log_reader, open_postgres_reader, open_reader
from atlasgate.audit.settings import AuditSettings
from atlasgate.audit.store import LogStore, SharedLogStore
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
    "SharedLogStore",
    "SignedCheckpoint",
    "VerificationError",
    "VerificationReport",
    "load_or_create_signing_key",
    "open_log_reader",
    "open_postgres_reader",
    "open_reader",
    "verify_log",
    "verify_proof",
]
