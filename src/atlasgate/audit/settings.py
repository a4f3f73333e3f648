"""The ``audit:`` section of the gateway configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditSettings(BaseModel):
    """Where and how the decision log is written.

    ``sync`` trades latency for the failures a decision survives once acknowledged:
    ``normal`` survives a crash or ``kill -9`` of the gateway (the commit has reached the
    operating system); ``full`` also survives power loss or a kernel crash (the WAL is
    fsynced on every batch commit).
    """

    model_config = ConfigDict(extra="forbid")

    store: Literal["sqlite"] = "sqlite"
    path: str = Field(default="atlasgate-data/decisions.db", min_length=1)
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
    include_content: bool = Field(
        default=False,
        description="Whether the gateway puts prompt and response text into log records.",
    )
