"""The one canonical byte encoding of a log entry, and its decoding.

An entry is ``{"logged_at": str, "prev": hex, "record": {...}, "seq": int}`` encoded as
JSON by orjson with sorted keys, no whitespace, UTF-8. The gateway's record sits under
``record`` so the log's own fields can never collide with it. Leaf hashes, the hash
chain and every proof are computed over exactly these bytes, so this module is the only
place that may produce or interpret them.

Records should hold plain JSON values. Datetimes, dataclasses and subclasses of str,
int, dict or list are refused rather than converted, because their JSON form would be a
library's choice. Enums are written as their value (``Action.BLOCK`` becomes ``4``), so
records should carry ``action.name``. JSON has no NaN or infinity; non-finite floats are
written as ``null``, and that is what the log stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from atlasgate.audit.errors import EncodingError, MalformedEntryError
from atlasgate.clock import utc_second

GENESIS_PREV = "0" * 64
"""The ``prev`` of entry 0: there is no earlier entry to chain to."""

DECISION_ID_KEY = "decision_id"
MAX_DECISION_ID_LENGTH = 256

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_ENTRY_KEYS = frozenset({"logged_at", "prev", "record", "seq"})
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A decoded entry: the log's own fields and the gateway's record."""

    seq: int
    prev: str
    logged_at: str
    record: dict[str, Any]

    @property
    def decision_id(self) -> str:
        return str(self.record.get(DECISION_ID_KEY, ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "logged_at": self.logged_at,
            "prev": self.prev,
            "record": self.record,
            "seq": self.seq,
        }


def canonical(value: Any) -> bytes:
    """Canonical JSON of any value; raises EncodingError for values without one."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise EncodingError(f"decision record cannot be logged: {exc}") from None


def encode_record(record: Mapping[str, Any]) -> tuple[str, bytes]:
    """Validate a gateway record and return its decision id and canonical bytes."""
    if not isinstance(record, dict):
        raise EncodingError(f"decision record must be a dict, not {type(record).__name__}")
    decision_id = record.get(DECISION_ID_KEY)
    if not isinstance(decision_id, str) or not decision_id:
        raise EncodingError(
            f"decision record needs a non-empty string {DECISION_ID_KEY!r}, got {decision_id!r}"
        )
    if len(decision_id) > MAX_DECISION_ID_LENGTH:
        raise EncodingError(
            f"{DECISION_ID_KEY} is {len(decision_id)} characters; "
            f"at most {MAX_DECISION_ID_LENGTH} are allowed"
        )
    try:
        return decision_id, canonical(record)
    except EncodingError:
        # A count a caller can drive past 64 bits must not stop its decisions being
        # logged: such integers are kept exactly, as decimal text. Anything else still fails.
        widened = _wide_ints_as_text(record)
        if widened == record:
            raise
        return decision_id, canonical(widened)


_INT64 = range(-(2**63), 2**64)


def _wide_ints_as_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value in _INT64 else str(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_text(v) for v in value]
    return value


def assemble_entry(seq: int, prev: str, logged_at: str, record_bytes: bytes) -> bytes:
    """Canonical bytes of an entry from an already canonical record.

    Byte-for-byte equal to ``canonical(entry.as_dict())``; it exists so a record is
    encoded once, when it is appended, and not again inside the writer.
    """
    return join_entry(entry_head(logged_at), prev.encode("ascii"), record_bytes, seq)


def entry_head(logged_at: str) -> bytes:
    """The bytes every entry of one batch starts with, up to its ``prev`` digits.

    A batch shares one ``logged_at``, so the writer encodes it once per batch.
    """
    return b'{"logged_at":' + canonical(logged_at) + b',"prev":"'


def join_entry(head: bytes, prev_hex: bytes, record_bytes: bytes, seq: int) -> bytes:
    """``assemble_entry`` from an ``entry_head`` and the previous leaf as ASCII hex bytes."""
    return b"".join((head, prev_hex, b'","record":', record_bytes, b',"seq":%d}' % seq))


def decode_entry(data: bytes) -> LogEntry:
    """Decode stored bytes, insisting they are exactly the canonical form."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedEntryError(f"entry is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or set(value) != _ENTRY_KEYS:
        raise MalformedEntryError(
            "entry must be an object with exactly the keys logged_at, prev, record, seq"
        )
    seq, prev, logged_at, record = (
        value["seq"],
        value["prev"],
        value["logged_at"],
        value["record"],
    )
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise MalformedEntryError(f"entry seq must be a non-negative integer, got {seq!r}")
    if not isinstance(prev, str) or len(prev) != 64 or not _HEX.issuperset(prev):
        raise MalformedEntryError("entry prev must be 64 lowercase hex digits")
    if not isinstance(logged_at, str):
        raise MalformedEntryError("entry logged_at must be a string")
    if not isinstance(record, dict):
        raise MalformedEntryError("entry record must be an object")
    if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != data:
        raise MalformedEntryError("entry bytes are not in canonical form")
    return LogEntry(seq=seq, prev=prev, logged_at=logged_at, record=record)


def format_timestamp(ns: int) -> str:
    """RFC 3339 UTC with microseconds: sortable as text and exact to reproduce."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{utc_second(seconds)}.{rest // 1000:06d}Z"
