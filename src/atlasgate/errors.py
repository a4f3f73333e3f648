"""The exception tree of AtlasGate.

    AtlasGateError
     ├── ConfigError          a configuration or policy file is wrong (file:line: reason)
     ├── PolicyError          a policy condition failed to compile or evaluate
     └── AuditError           the decision log cannot be written or read
          └── VerificationError  the log or a proof does not verify
"""

from __future__ import annotations


class AtlasGateError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(AtlasGateError):
    """A configuration file is invalid; the message says where and why."""

    def __init__(self, reason: str, path: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.reason}"


class PolicyError(AtlasGateError):
    """A policy rule could not be compiled or evaluated."""


class AuditError(AtlasGateError):
    """The decision log could not be written or read."""


class VerificationError(AuditError):
    """The decision log, a checkpoint or a proof does not verify."""
