"""The ``audit:`` section of the gateway configuration."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from atlasgate.audit.errors import AuditError


class AuditSettings(BaseModel):
    """Where and how the decision log is written.

    ``store: sqlite`` (the default) keeps the log in one file written by one process.
    ``store: postgresql`` keeps it in tables named ``<table_prefix>entries`` and so on,
    which any number of gateway replicas append to as one log; every replica must then
    use the same ``signing_key`` and ``origin``.

    ``sync`` trades latency for the failures a decision survives once acknowledged.
    SQLite: ``normal`` survives a crash or ``kill -9`` of the gateway (the commit has
    reached the operating system); ``full`` also survives power loss or a kernel crash
    (the WAL is fsynced on every batch commit). PostgreSQL: a commit has always reached
    the server, so both survive the gateway's death; ``normal`` keeps the server's own
    ``synchronous_commit``, and ``full`` raises it to ``on`` if the server has it ``off``,
    so an acknowledged decision is on the server's disk.
    """

    model_config = ConfigDict(extra="forbid")

    store: Literal["sqlite", "postgresql"] = "sqlite"
    path: str = Field(default="atlasgate-data/decisions.db", min_length=1)
    dsn: str | None = Field(
        default=None,
        min_length=1,
        description="PostgreSQL connection string, e.g. postgresql://user@db:5432/atlasgate.",
    )
    dsn_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the DSN; used instead of dsn when set.",
    )
    table_prefix: str = Field(
        default="atlasgate_",
        pattern=r"^[a-z_][a-z0-9_]{0,39}$",
        description="Prefix of the PostgreSQL table names, so several logs can share a database.",
    )
    signing_key: str = Field(
        default="atlasgate-data/signing-key.pem",
        min_length=1,
        description="Ed25519 private key (PEM); created with mode 0600 if missing.",
    )
    origin: str = Field(
        default="atlasgate",
        pattern=r"^[^\s+]+$",
        description="Names this log in every checkpoint; no spaces or '+'.",
    )
    checkpoint_interval: float = Field(
        default=10.0, gt=0, description="Seconds between checkpoints while entries arrive."
    )
    checkpoint_every: int = Field(
        default=1000, ge=1, description="Also checkpoint after this many new entries."
    )
    max_batch: int = Field(default=512, ge=1, description="Most entries in one commit.")
    sync: Literal["normal", "full"] = "normal"
    busy_timeout: float = Field(
        default=5.0, ge=0, description="Seconds to wait for a locked database before failing."
    )
    commit_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a commit or checkpoint on the writer thread (sync: full, "
        "PostgreSQL) may take before the decisions waiting on it fail and fail_mode "
        "applies. sync: normal commits on the event loop and is not bounded by it, but a "
        "pass moving the WAL into the database file holds its commits at most this long.",
    )
    include_content: bool = Field(
        default=False,
        description="Whether the gateway puts prompt and response text into log records.",
    )

    @model_validator(mode="after")
    def _postgresql_needs_a_dsn(self) -> AuditSettings:
        if self.store == "postgresql" and self.dsn is None and self.dsn_env is None:
            raise ValueError("store postgresql needs dsn or dsn_env")
        return self

    def resolved_dsn(self) -> str:
        """The PostgreSQL DSN: from the ``dsn_env`` variable when it is set, else ``dsn``."""
        if self.dsn_env is not None:
            value = os.environ.get(self.dsn_env, "")
            if value:
                return value
            if self.dsn is None:
                raise AuditError(
                    f"audit.dsn_env names {self.dsn_env}, but that environment variable is not set"
                )
        if self.dsn is None:
            raise AuditError("audit.dsn is not set; the PostgreSQL store needs a connection string")
        return self.dsn
