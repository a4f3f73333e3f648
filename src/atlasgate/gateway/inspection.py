"""Content inspection on OpenAI traffic: request findings, redaction, response and stream scanning.

The detectors are pure functions (``atlasgate.detectors.content``); this module only
moves their findings into the Event, applies CONSTRAIN's redaction to the bodies,
and rewrites a Server-Sent Events stream as it flows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import orjson

from atlasgate.detectors.content.inspector import ContentInspector
from atlasgate.detectors.content.redact import PlaceholderState, restore
from atlasgate.detectors.findings import Finding
from atlasgate.gateway.flow import Exchange
from atlasgate.policy.decision import Action


def findings_record(findings: list[Finding], phase: str) -> list[dict[str, Any]]:
    """What the log keeps of findings: where and what, never the matched text."""
    return [{"phase": phase, "detector": f.detector, "kind": f.kind, "score": round(f.score, 4),
             "location": f.location, "span": list(f.span) if f.span else None,
             "techniques": list(f.techniques)} for f in findings]


def choices_of(data: Any) -> list[dict[str, Any]]:
    """The choices of an OpenAI body that can be read as choices.

    An upstream is not trusted to be well formed: a ``choices`` that is not a list, or a
    choice that is not an object, carries no text the gateway can read, so it adds
    nothing here and the body is relayed as the upstream sent it.
    """
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        return []
    return [choice for choice in choices if isinstance(choice, dict)]


MAX_CHOICES = 128


def choice_index(value: Any) -> int:
    """Which choice a streamed delta belongs to, read as a lenient client reads it.

    OpenAI sends an int. A loosely validating client may also read ``true``, ``1.0`` or
    ``"1"`` as choice 1, so those share choice 1's scanner and a value split across such
    frames is still scanned as one text. What no client reads as a number (a list, an object,
    null) counts as choice 0, as a missing index does: its text is scanned together with
    the first choice's rather than alone in a bucket no client would join up.
    """
    index = 0
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        index = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        digits = value.strip().lstrip("0") or "0"
        index = int(digits) if len(digits) <= 4 else MAX_CHOICES
    # OpenAI answers at most 128 choices; a scanner per index an upstream invents would
    # let one stream hold any amount of memory.
    return index if 0 <= index < MAX_CHOICES else 0


def _lf_lines(buffer: bytes) -> bytes:
    """SSE lines may end in CRLF, LF or CR: all become LF. A CR at the very end may be the
    first half of a CRLF still to come, so it waits for the next chunk."""
    if b"\r" not in buffer:
        return buffer
    held = buffer.endswith(b"\r")
    body = (buffer[:-1] if held else buffer).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body + b"\r" if held else body


# What a synthesised chunk copies from the upstream's own chunks, so clients parse it alike.
_CHUNK_META = ("id", "object", "created", "model", "system_fingerprint")


@dataclass
class _Stream:
    """What one relayed stream keeps between its frames."""

    field: str | None  # "delta" for chat chunks; completions carry text on the choice
    redact: bool
    scanners: dict[int, Any] = dataclass_field(default_factory=dict)  # per unfinished choice
    findings: list[Finding] = dataclass_field(default_factory=list)
    finished: set[int] = dataclass_field(default_factory=set)  # choices past finish_reason
    meta: dict[str, Any] = dataclass_field(default_factory=dict)  # of the latest chunk (_CHUNK_META)

    @property
    def key(self) -> str:
        return "content" if self.field else "text"

    def location(self, index: int) -> str:
        return f"choices/{index}/delta/content" if self.field else f"choices/{index}/text"


class ContentStage:
    """The content side of one OpenAI request (created per request)."""

    def __init__(self, x: Exchange, inspector: ContentInspector, method: str) -> None:
        self.x = x
        self.inspector = inspector
        self.method = method
        self.request_findings: list[Finding] = []
        self.placeholders = PlaceholderState()
        self._request_values: dict[str, str] = {}

    async def inspect_request(self, body: dict[str, Any]) -> None:
        self.request_findings = self.inspector.inspect_request(body, self.method)
        self._publish(self.request_findings, "request")

    def _publish(self, findings: list[Finding], phase: str) -> None:
        fields = self.inspector.event_fields(findings)
        if phase == "request":
            self.x.event.update(fields)
        else:
            self.x.response_fields.update(fields)
        # Techniques enter atlas.techniques through the rules that act on findings;
        # a weak finding stays evidence in the log's findings, not an accusation.
        self.x.findings += findings_record(findings, phase)

    def redact_request(self, body: dict[str, Any]) -> dict[str, Any]:
        redacted = self.inspector.redact(body, self.request_findings, self.placeholders)
        if redacted is not body:
            self.x.modified.append(f"redacted {len(self.placeholders.mapping)} span(s) in request")
        # Only what the caller itself sent may come back; values redacted from the
        # answer later share the placeholder numbering but must stay redacted.
        self._request_values = dict(self.placeholders.mapping)
        return redacted

    @property
    def restore_mapping(self) -> dict[str, str]:
        """Reversible redaction: this caller's own values go back into its own answer."""
        settings = self.x.snapshot.config.detectors.get("pii", {})
        return self._request_values if settings.get("restore") else {}

    async def inspect_response(self, data: dict[str, Any]) -> list[Finding]:
        findings = self.inspector.inspect_response(data, self.method)
        self._publish(findings, "response")
        return findings

    def constrain_response(self, data: dict[str, Any], findings: list[Finding],
                           redact: bool) -> tuple[dict[str, Any], bool]:
        """Redact the answer's findings, or restore the caller's own values; (body, changed).

        ``changed`` only when a text did change: an unchanged body is relayed byte for byte.
        """
        changed = False
        if redact and findings:
            redacted = self.inspector.redact(data, findings, self.placeholders)
            if redacted is not data:
                self.x.modified.append("redacted response")
                data, changed = redacted, True
        mapping = self.restore_mapping
        if mapping:
            for choice in choices_of(data):
                message = choice.get("message")
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    holder, key = message, "content"
                else:
                    holder, key = choice, "text"
                text = holder.get(key)
                if isinstance(text, str) and (restored := restore(text, mapping)) != text:
                    holder[key] = restored
                    changed = True
        return data, changed

    async def rewrite_stream(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Yield the SSE stream with deltas scanned (and redacted) before they leave.

        Only the tail that could still be a split secret or PII is held back, and it is
        released when its choice finishes, at ``[DONE]``, or when the stream ends; when
        the response policy blocks, the stream ends with an OpenAI-shaped error event.
        """
        stream = _Stream("delta" if self.method == "chat" else None,
                         self.x.snapshot.policy.redacts_responses)
        buffer = b""
        async for chunk in chunks:
            buffer = _lf_lines(buffer + chunk)
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                out, blocked = await self._frame(stream, frame)
                if out:
                    yield out
                if blocked:
                    return
        if buffer.strip():
            out, blocked = await self._frame(stream, buffer)
            if out:
                yield out
            if blocked:
                return
        out, _ = await self._flush(stream)  # a stream cut before [DONE]
        if out:
            yield out

    async def _frame(self, stream: _Stream, frame: bytes) -> tuple[bytes, bool]:
        # An event's data may span several "data:" lines (joined by newlines, as SSE
        # clients join them) beside "event:", "id:" and comment lines, which are kept.
        lines = frame.split(b"\n")
        data_lines = [line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:")]
        if not data_lines:
            return frame + b"\n\n", False
        others = b"".join(line + b"\n" for line in lines if not line.startswith(b"data:"))
        payload = b"\n".join(data_lines).strip()
        if payload == b"[DONE]":
            out, blocked = await self._flush(stream)
            return (out, True) if blocked else (out + frame + b"\n\n", False)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return frame + b"\n\n", False
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            return frame + b"\n\n", False  # not a chunk: no text a client would show
        stream.meta = {k: data[k] for k in _CHUNK_META if k in data}
        field, key, scanners = stream.field, stream.key, stream.scanners
        new: list[Finding] = []
        for choice in choices_of(data):
            index = choice_index(choice.get("index", 0))
            if choice.get("index", 0) != index:
                choice["index"] = index  # sent under the index it was scanned under
            finishing = bool(choice.get("finish_reason"))
            holder = choice.get(field) if field else choice
            if index in stream.finished:
                # A finished choice has said all it may: text after its end could complete
                # a secret whose start has already left, so it is not relayed.
                if isinstance(holder, dict) and holder.get(key):
                    holder[key] = ""
                    if "dropped text after a finished choice" not in self.x.modified:
                        self.x.modified.append("dropped text after a finished choice")
                continue
            if not isinstance(holder, dict):
                if not (finishing and index in scanners):
                    continue
                holder = {}  # the held tail travels in this final chunk's delta
            scanner = scanners.get(index)
            if scanner is None:
                scanner = scanners[index] = self.inspector.stream_scanner(
                    location=stream.location(index), redact=stream.redact,
                    placeholder_state=self.placeholders, restore_mapping=self.restore_mapping)
            text = holder.get(key)
            release = scanner.feed(text) if isinstance(text, str) else None
            released = release.text if release else ""
            if release:
                new += release.findings
            if finishing:
                stream.finished.add(index)
                tail = scanners.pop(index).finish()
                released += tail.text
                new += tail.findings
            if isinstance(text, str) or released:
                holder[key] = released
                if field:
                    choice[field] = holder
        if await self._stops(stream, new):
            return self._error_event(), True
        return others + b"data: " + orjson.dumps(data) + b"\n\n", False

    async def _flush(self, stream: _Stream) -> tuple[bytes, bool]:
        """Release what every unfinished choice still holds, as one more chunk.

        Streams often end without a finish frame that carries text (or without one at
        all); the held tail must still reach the client, scanned like the rest.
        """
        choices, new = [], []
        for index, scanner in sorted(stream.scanners.items()):
            tail = scanner.finish()
            new += tail.findings
            if tail.text:
                text = {stream.key: tail.text}
                choices.append({"index": index,
                                **({stream.field: text} if stream.field else text)})
        stream.scanners.clear()
        if await self._stops(stream, new):
            return self._error_event(), True
        if not choices:
            return b"", False
        return b"data: " + orjson.dumps({**stream.meta, "choices": choices}) + b"\n\n", False

    async def _stops(self, stream: _Stream, new: list[Finding]) -> bool:
        """True when the response policy stops the stream on what was just found."""
        if not new:
            return False
        stream.findings += new
        x = self.x
        x.response_fields.update(self.inspector.event_fields(stream.findings))
        x.findings += findings_record(new, "response")
        decision = await x.decide("response")
        if decision.action is Action.ALLOW:
            return False
        await x.record_stream_decision(decision)
        return decision.action in (Action.BLOCK, Action.REVIEW)

    def _error_event(self) -> bytes:
        decision = self.x.response_decision
        reasons = "; ".join(decision.reasons) if decision else "policy"
        error = {"error": {"message": "response stopped by policy: " + reasons,
                           "type": "permission_error", "param": None, "code": "response_blocked"}}
        return b"data: " + orjson.dumps(error) + b"\n\ndata: [DONE]\n\n"
