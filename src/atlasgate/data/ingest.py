"""The gateway's dataset ingestion: parse a request body and check it against a profile."""

from __future__ import annotations

from atlasgate.data.checks import check_batch
from atlasgate.data.frames import format_for_content_type, read_bytes
from atlasgate.data.profile import Profile
from atlasgate.data.report import CheckReport
from atlasgate.data.settings import CheckSettings


def ingest_batch(
    profile: Profile,
    body: bytes,
    content_type: str,
    settings: CheckSettings | None = None,
    *,
    batch_name: str = "<body>",
) -> CheckReport:
    """Parse a CSV, JSON-lines or Parquet body and run every check.

    Raises ``DataError`` with the line at fault for a body that cannot be parsed;
    the gateway turns it into a 400 (or 415 for an unsupported content type).
    CPU-bound: call it from a worker thread, not on the event loop.
    """
    fmt = format_for_content_type(content_type)
    frame = read_bytes(body, fmt, batch_name)
    return check_batch(profile, frame, settings, batch_name=batch_name)
