"""Inspect a streamed response while it flows, holding back only what must wait.

Text deltas are fed in order. Everything is released at once except the tail
that could still turn into a secret, a piece of personal data, a canary or a
placeholder to restore (an unfinished token, a run of digits, an open
``-----BEGIN`` block, a ``password =`` awaiting its value). So the first tokens
go out immediately, a value split across chunks is still caught whole and
redacted before it leaves, and ``finish()`` releases the rest.

Detectors that do not redact (injection in output, system-prompt leakage) run
over the accumulated text every few hundred characters and at the end; their
findings let the gateway end the stream with an error event if policy says
BLOCK.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from atlasgate.detectors.content import pipeline
from atlasgate.detectors.content.patterns import compile_re
from atlasgate.detectors.content.redact import REDACTED_DETECTORS, PlaceholderState, redact_text
from atlasgate.detectors.content.redact import restore as restore_text
from atlasgate.detectors.findings import Finding

if TYPE_CHECKING:
    from atlasgate.detectors.content.inspector import ContentInspector

# Tails that may still grow into something a redacting detector reports.
_OPEN_TAILS = compile_re(
    r"(?:"
    r"[^\s]+"                                              # an unfinished token (keys, e-mail, URLs)
    r"|[+(]?[0-9][0-9 ().\-]*"                             # digits: cards, phones, IDs
    r"|\b[A-Z]{2}[0-9]{2}[A-Z0-9 ]*"                       # IBAN
    r"|\b[0-9]{1,6}[A-Za-z]? (?:[A-Z][a-z]* ?){0,5}"       # street address
    r"|(?i:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token)"
    r"[\"']?\s{0,3}[:=]?\s{0,3}[\"']?[^\s\"']*"           # an assignment awaiting its value
    r"|\[[A-Z0-9_]*"                                       # a placeholder to restore
    r")$"
)
_PEM_OPEN = "-----BEGIN"
_PEM_CLOSE = "PRIVATE KEY-----"
_CONTEXT = 32


@dataclass(frozen=True, slots=True)
class StreamRelease:
    """Text that may leave now, and the findings first seen in this step."""

    text: str
    findings: list[Finding] = field(default_factory=list)


class StreamScanner:
    """One streamed response; not shared between streams.

    ``redact``: replace PII/secret/leakage spans in released text with placeholders
    from ``placeholder_state``. ``restore_mapping``: the caller's request-side
    placeholders to put back (reversible redaction), copied when the scanner is
    created so that placeholders added while redacting this response are never
    restored. Finding spans are offsets into
    the whole text the upstream streamed, at ``location``.
    """

    def __init__(
        self,
        inspector: ContentInspector,
        *,
        location: str = "choices/0/delta/content",
        redact: bool = False,
        placeholder_state: PlaceholderState | None = None,
        restore_mapping: dict[str, str] | None = None,
        max_hold: int = 512,
        max_key_hold: int = 8192,
        rescan_every: int = 1024,
        max_history: int = 4096,
    ) -> None:
        self.inspector = inspector
        self.location = location
        self.redact = redact
        self.state = placeholder_state if placeholder_state is not None else PlaceholderState()
        # A snapshot: placeholders this stream's own redaction adds to the caller's
        # state must stay redacted, even when the state's mapping was passed here.
        self.restore_mapping = dict(restore_mapping or {})
        self.max_hold = max_hold
        self.max_key_hold = max_key_hold
        self.rescan_every = rescan_every
        self.max_history = max_history
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str, tuple[int, int] | None]] = set()
        self._classifier_best: dict[str, float] = {}
        self._pending = ""
        self._offset = 0  # absolute offset of _pending[0]
        self._context = ""  # released text just before _pending, for word boundaries
        self._history = ""  # released + pending text (bounded), for non-redacting detectors
        self._history_offset = 0
        self._since_rescan = 0
        self._redacting = inspector.enabled & REDACTED_DETECTORS
        self._whole_text = inspector.enabled & {"injection", "leakage", "obfuscation"}
        self._redact_config = replace(inspector.config, enabled=self._redacting, classifier=None)
        self._whole_config = replace(inspector.config, enabled=self._whole_text)

    # ------------------------------------------------------------------ API
    def feed(self, delta: str) -> StreamRelease:
        if not delta:
            return StreamRelease("")
        self._pending += delta
        self._history += delta
        if len(self._history) > self.max_history:
            drop = len(self._history) - self.max_history
            self._history = self._history[drop:]
            self._history_offset += drop
        self._since_rescan += len(delta)
        new: list[Finding] = []
        if self._since_rescan >= self.rescan_every:
            new.extend(self._rescan())
        released, found = self._release(final=False)
        new.extend(found)
        return StreamRelease(released, new)

    def finish(self) -> StreamRelease:
        """Release everything still held and run the whole-text detectors a last time."""
        released, found = self._release(final=True)
        found.extend(self._rescan())
        return StreamRelease(released, found)

    @property
    def text_seen(self) -> str:
        """The last ``max_history`` characters the upstream streamed (the rescan window)."""
        return self._history

    # ------------------------------------------------------------ internals
    def _record(self, findings: list[Finding]) -> list[Finding]:
        fresh = []
        for finding in findings:
            if finding.kind == "classifier":
                # The window moves, so the same judgement comes back with a new span:
                # report it again only when the score rises.
                if self._classifier_best.get(finding.detector, 0.0) >= finding.score:
                    continue
                self._classifier_best[finding.detector] = finding.score
                self.findings.append(finding)
                fresh.append(finding)
                continue
            key = (finding.detector, finding.kind, finding.span)
            if key in self._seen:
                continue
            self._seen.add(key)
            self.findings.append(finding)
            fresh.append(finding)
        return fresh

    def _rescan(self) -> list[Finding]:
        self._since_rescan = 0
        if not self._whole_text:
            return []
        found = pipeline.scan(self._history, self.location, self._whole_config, response=True)
        shifted = [_shift(f, self._history_offset) for f in found if not _redactable(f)]
        return self._record(shifted)

    def _hold_from(self, text: str, findings: list[Finding]) -> int:
        """Index in ``text`` from which characters must wait for more input."""
        cut = len(text)
        window_start = max(0, len(text) - self.max_hold)
        tail = _OPEN_TAILS.search(text, window_start)
        if tail is not None:
            cut = min(cut, tail.start())
        pem = text.rfind(_PEM_OPEN)
        if pem != -1 and text.find(_PEM_CLOSE, pem) == -1 and len(text) - pem <= self.max_key_hold:
            cut = min(cut, pem)
        for canary in self.inspector.leakage.canaries:
            lowered = text[-len(canary):].lower()
            for size in range(min(len(canary) - 1, len(lowered)), 0, -1):
                if canary.startswith(lowered[-size:]):
                    cut = min(cut, len(text) - size)
                    break
        changed = True
        while changed:
            changed = False
            for finding in findings:
                if finding.span is None:
                    continue
                start, end = finding.span
                if start < cut < end or (end >= len(text) and start < cut):
                    cut = start
                    changed = True
        # Never hold more than max_key_hold: a longer open value is released (clipped
        # and redacted as far as it goes) so memory and work stay bounded.
        return max(cut, len(text) - self.max_key_hold, 0)

    def _release(self, final: bool) -> tuple[str, list[Finding]]:
        pending = self._pending
        if not pending:
            return "", []
        context = self._context
        findings: list[Finding] = []
        if self._redacting:
            scanned = pipeline.scan(context + pending, self.location, self._redact_config,
                                    response=True)
            for f in scanned:
                if _redactable(f) and f.span is not None:
                    start, end = f.span[0] - len(context), f.span[1] - len(context)
                    if start >= 0:
                        findings.append(_with_span(f, (start, end)))
        cut = len(pending) if final else self._hold_from(pending, findings)
        if cut == 0:
            return "", []
        out_text = pending[:cut]
        ready = [f if f.span[1] <= cut else _with_span(f, (f.span[0], cut))
                 for f in findings if f.span is not None and f.span[0] < cut]
        if self.redact and ready:
            out_text = redact_text(out_text, ready, self.state, REDACTED_DETECTORS)
        if self.restore_mapping:
            out_text = restore_text(out_text, self.restore_mapping)
        fresh = self._record([_shift(f, self._offset) for f in ready])
        self._context = (context + pending[:cut])[-_CONTEXT:]
        self._pending = pending[cut:]
        self._offset += cut
        return out_text, fresh


def _redactable(finding: Finding) -> bool:
    """Short values redacted in place; system-prompt leakage is judged on the whole text."""
    if finding.detector == "leakage":
        return finding.kind == "canary"
    return finding.detector in REDACTED_DETECTORS


def _with_span(finding: Finding, span: tuple[int, int]) -> Finding:
    return Finding(finding.detector, finding.kind, finding.score, finding.techniques,
                   finding.location, span, finding.detail)


def _shift(finding: Finding, offset: int) -> Finding:
    if finding.span is None or offset == 0:
        return finding
    return _with_span(finding, (finding.span[0] + offset, finding.span[1] + offset))


def scan_stream(inspector: ContentInspector, deltas: list[str], **options: Any) -> tuple[str, list[Finding]]:
    """Feed a whole list of deltas (used by ``atlasgate scan`` and the benchmarks)."""
    scanner = StreamScanner(inspector, **options)
    parts = [scanner.feed(d).text for d in deltas]
    parts.append(scanner.finish().text)
    return "".join(parts), scanner.findings
