"""Typed failures of the decision log, so callers can tell a bad input from a forgery.

AuditError (atlasgate.errors)
 ├── EncodingError            a record cannot be encoded canonically
 ├── LogClosedError           append after close
 └── VerificationError (atlasgate.errors)
      ├── MalformedEntryError     stored bytes are not a canonical log entry
      ├── ProofError
      │    ├── IndexOutOfRangeError  leaf index >= tree size (or sizes out of order)
      │    ├── ProofLengthError      the proof has the wrong number of hashes
      │    └── RootMismatchError     the proof leads to a different root
      └── CheckpointError
           ├── MalformedCheckpointError  not a checkpoint note
           ├── UnknownKeyError           signed by a key other than the one trusted
           └── SignatureError            the signature does not match the body
"""

from __future__ import annotations

from atlasgate.errors import AuditError, VerificationError

__all__ = [
    "AuditError",
    "CheckpointError",
    "EncodingError",
    "IndexOutOfRangeError",
    "LogClosedError",
    "MalformedCheckpointError",
    "MalformedEntryError",
    "ProofError",
    "ProofLengthError",
    "RootMismatchError",
    "SignatureError",
    "UnknownKeyError",
    "VerificationError",
]


class EncodingError(AuditError):
    """A decision record holds a value with no canonical JSON form."""


class LogClosedError(AuditError):
    """The log was closed; nothing more is accepted."""


class MalformedEntryError(VerificationError):
    """Stored bytes do not decode to a canonical log entry."""


class ProofError(VerificationError):
    """An inclusion or consistency proof does not verify."""


class IndexOutOfRangeError(ProofError):
    """The leaf index or tree sizes are outside the tree the proof is for."""


class ProofLengthError(ProofError):
    """The proof has more or fewer hashes than its index and size require."""


class RootMismatchError(ProofError):
    """The proof recomputes to a root other than the expected one."""

    def __init__(self, expected: bytes, computed: bytes) -> None:
        self.expected = expected
        self.computed = computed
        super().__init__(f"computed root {computed.hex()} does not match expected root {expected.hex()}")


class CheckpointError(VerificationError):
    """A signed checkpoint is malformed or its signature does not verify."""


class MalformedCheckpointError(CheckpointError):
    """The text is not a signed checkpoint note."""


class UnknownKeyError(CheckpointError):
    """The checkpoint was signed by a key other than the trusted one."""


class SignatureError(CheckpointError):
    """The signature does not match the checkpoint body."""
