"""The content inspector the gateway builds once and calls for every LLM request.

It walks OpenAI-shaped bodies (every message role and content part, tool-call
arguments, tool results, tool definitions; completion prompts; embedding inputs)
and responses, runs the content pipeline on each string, and turns findings
into the flat ``detection.<detector>.*`` Event fields that policies read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from atlasgate.detectors.content import classifier as classifier_module
from atlasgate.detectors.content import pipeline
from atlasgate.detectors.content.leakage import LeakageIndex
from atlasgate.detectors.content.pipeline import ScanConfig
from atlasgate.detectors.content.redact import REDACTED_DETECTORS, PlaceholderState
from atlasgate.detectors.content.redact import redact as redact_body
from atlasgate.detectors.content.scan_cache import ScanCache
from atlasgate.detectors.findings import Finding
from atlasgate.detectors.registry import DETECTORS
from atlasgate.errors import ConfigError

CONTENT_DETECTORS = ("injection", "jailbreak", "extraction", "obfuscation", "secrets", "pii",
                     "leakage")
_KNOWN_KEYS = {
    "injection": {"enabled"},
    "jailbreak": {"enabled"},
    "extraction": {"enabled"},
    "obfuscation": {"enabled"},
    "secrets": {"enabled", "high_entropy"},
    "pii": {"enabled", "kinds", "restore"},
    "leakage": {"enabled", "system_prompts", "canaries", "shingle_words"},
    "classifier": {"enabled", "model"},
    "scan_cache": {"enabled", "entries"},
}
_PII_KINDS = frozenset({"email", "phone", "credit_card", "iban", "us_ssn", "uk_nino", "es_dni",
                        "in_aadhaar", "ip_address", "street_address"})
_INDIRECT_ROLES = frozenset({"tool", "function", "assistant"})

Strings = Iterator[tuple[str, str, bool]]


def _section(settings: dict[str, Any], name: str) -> dict[str, Any]:
    value = settings.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"detectors.{name}: expected a mapping, got {type(value).__name__}")
    unknown = set(value) - _KNOWN_KEYS[name]
    if unknown:
        known = ", ".join(sorted(_KNOWN_KEYS[name]))
        raise ConfigError(f"detectors.{name}: unknown key {sorted(unknown)[0]!r}; known: {known}")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"detectors.{name}.enabled: expected true or false, got {enabled!r}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected a string or a list of strings")


class ContentInspector:
    """Compiled once at start-up; every method is safe to call from many requests at once."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        settings = settings or {}
        if not isinstance(settings, dict):
            raise ConfigError("detectors: expected a mapping of detector name to settings")
        sections = {name: _section(settings, name) for name in _KNOWN_KEYS}
        self.enabled = frozenset(n for n in CONTENT_DETECTORS if sections[n].get("enabled", True))
        self._enabled_order = tuple(n for n in CONTENT_DETECTORS if n in self.enabled)
        model = None
        wants_model = self.enabled & {"injection", "jailbreak", "extraction"}
        if sections["classifier"].get("enabled", True) and wants_model:
            path = sections["classifier"].get("model")
            if path is not None and not isinstance(path, (str, Path)):
                raise ConfigError("detectors.classifier.model: expected a file path")
            model = classifier_module.load(path)
        leak = sections["leakage"]
        shingle = leak.get("shingle_words", 6)
        if not isinstance(shingle, int) or isinstance(shingle, bool) or not 3 <= shingle <= 50:
            raise ConfigError("detectors.leakage.shingle_words: expected an integer from 3 to 50")
        self.leakage = LeakageIndex(
            _strings(leak.get("system_prompts"), "detectors.leakage.system_prompts"),
            _strings(leak.get("canaries"), "detectors.leakage.canaries"),
            shingle,
        )
        kinds = sections["pii"].get("kinds")
        if kinds is not None:
            kinds = frozenset(_strings(kinds, "detectors.pii.kinds"))
            bad = kinds - _PII_KINDS
            if bad:
                raise ConfigError(f"detectors.pii.kinds: unknown kind {sorted(bad)[0]!r}; known: "
                                  + ", ".join(sorted(_PII_KINDS)))
        restore = sections["pii"].get("restore", False)
        if not isinstance(restore, bool):
            raise ConfigError("detectors.pii.restore: expected true or false")
        self.restore = restore
        high_entropy = sections["secrets"].get("high_entropy", True)
        if not isinstance(high_entropy, bool):
            raise ConfigError("detectors.secrets.high_entropy: expected true or false")
        self.config = ScanConfig(
            enabled=self.enabled, classifier=model, leakage=self.leakage,
            generic_secrets=high_entropy, pii_kinds=kinds,
        )
        self.classifier = model
        cache = sections["scan_cache"]
        entries = cache.get("entries", 4096)
        if not isinstance(entries, int) or isinstance(entries, bool) or entries < 1:
            raise ConfigError("detectors.scan_cache.entries: expected a positive integer")
        self.scan_cache = ScanCache(entries) if cache.get("enabled", True) else None
        self._quiet = _quiet_template(self._enabled_order)
        self._quiet_lists = tuple(k for k, v in self._quiet.items() if isinstance(v, list))

    # ------------------------------------------------------------------ text
    def inspect_text(self, text: str, location: str = "", *, indirect: bool = False,
                     response: bool = False) -> list[Finding]:
        """Findings for one string, with spans into ``text``."""
        return pipeline.scan(text, location, self.config, indirect=indirect, response=response)

    # ------------------------------------------------------------- requests
    def inspect_request(self, body: dict[str, Any], method: str) -> list[Finding]:
        findings: list[Finding] = []
        cache = self.scan_cache
        for location, text, indirect in request_strings(body, method):
            if cache is None:
                findings.extend(pipeline.scan(text, location, self.config, indirect=indirect))
                continue
            key = (text, location, indirect)
            found = cache.get(key)
            if found is None:
                found = tuple(pipeline.scan(text, location, self.config, indirect=indirect))
                cache.put(key, found)
            findings.extend(found)
        return findings

    def inspect_response(self, body: dict[str, Any], method: str) -> list[Finding]:
        findings: list[Finding] = []
        for location, text, _ in response_strings(body, method):
            findings.extend(pipeline.scan(text, location, self.config, response=True))
        return findings

    # ---------------------------------------------------------- Event fields
    def event_fields(self, findings: Iterable[Finding]) -> dict[str, Any]:
        """``detection.<detector>.{score,count,types}`` for every enabled content detector.

        Fields are present (zero, empty) for an enabled detector that found nothing,
        so conditions never read a missing field; a disabled detector adds none.
        """
        by_detector: dict[str, list[Finding]] = {}
        for finding in findings:
            if finding.detector in self.enabled:
                by_detector.setdefault(finding.detector, []).append(finding)
        fields = self._quiet_fields()
        for name, items in by_detector.items():
            prefix = f"detection.{name}."
            fields[prefix + "score"] = round(max(f.score for f in items), 4)
            fields[prefix + "count"] = len(items)
            fields[prefix + "types"] = sorted({f.kind for f in items})
            fields[prefix + "techniques"] = sorted({t for f in items for t in f.techniques})
        injections = by_detector.get("injection")
        if injections:
            fields["detection.injection.indirect"] = any(
                "AML.T0051.001" in f.techniques for f in injections)
            fields["detection.injection.in_tool_calls"] = any(
                "tool_calls/" in f.location or "function_call/" in f.location for f in injections)
        if "obfuscation" in self.enabled and by_detector:
            fields["detection.obfuscation.attack_score"] = round(max(
                (f.score for name in ("injection", "jailbreak", "extraction")
                 for f in by_detector.get(name, ()) if "AML.T0068" in f.techniques),
                default=0.0), 4)
        return fields

    def _quiet_fields(self) -> dict[str, Any]:
        """The fields of a text with no findings (fresh lists: Events own their values).

        Every request asks for them, so the constant template is built once and copied.
        """
        fields = self._quiet.copy()
        for key in self._quiet_lists:
            fields[key] = []
        return fields

    # -------------------------------------------------------------- redaction
    def redact(self, body: dict[str, Any], findings: Iterable[Finding],
               placeholder_state: PlaceholderState | None = None) -> dict[str, Any]:
        """A copy of ``body`` with PII, secret and leakage spans replaced by placeholders."""
        return redact_body(body, findings, placeholder_state, REDACTED_DETECTORS)

    def stream_scanner(self, **options: Any) -> Any:
        from atlasgate.detectors.content.stream import StreamScanner

        return StreamScanner(self, **options)

    @property
    def techniques(self) -> tuple[str, ...]:
        """The ATLAS techniques the enabled content detectors cover."""
        seen: dict[str, None] = {}
        for name in self.enabled:
            for technique in DETECTORS[name].techniques:
                seen[technique] = None
        return tuple(seen)


def _quiet_template(enabled: tuple[str, ...]) -> dict[str, Any]:
    """``detection.*`` fields of the enabled detectors when nothing was found."""
    fields: dict[str, Any] = {}
    for name in enabled:
        prefix = f"detection.{name}."
        fields[prefix + "score"] = 0.0
        fields[prefix + "count"] = 0
        fields[prefix + "types"] = []
        fields[prefix + "techniques"] = []
    if "injection" in enabled:
        fields["detection.injection.indirect"] = False
        fields["detection.injection.in_tool_calls"] = False
    if "obfuscation" in enabled:
        fields["detection.obfuscation.attack_score"] = 0.0
    return fields


def _content(content: Any, where: str, indirect: bool) -> Strings:
    if isinstance(content, str):
        yield where, content, indirect
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if isinstance(part, str):
                yield f"{where}/{j}", part, indirect
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    yield f"{where}/{j}/text", text, indirect
                elif isinstance(text, dict) and isinstance(text.get("value"), str):
                    yield f"{where}/{j}/text/value", text["value"], indirect


def _tool_calls(message: dict[str, Any], where: str) -> Strings:
    """Arguments of a message's tool calls (callers skip the many messages without any)."""
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for k, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield f"{where}/tool_calls/{k}/function/arguments", function["arguments"], True
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        yield f"{where}/function_call/arguments", legacy["arguments"], True


def request_strings(body: dict[str, Any], method: str) -> Strings:
    """(location, text, indirect) for every string a request carries to the model."""
    if not isinstance(body, dict):
        return
    if method == "chat" or (method not in ("completion", "embedding") and "messages" in body):
        messages = body.get("messages")
        if isinstance(messages, list):
            for i, message in enumerate(messages):
                if not isinstance(message, dict):
                    continue
                indirect = message.get("role") in _INDIRECT_ROLES
                yield from _content(message.get("content"), f"messages/{i}/content", indirect)
                if isinstance(message.get("name"), str):  # some chat templates show it
                    yield f"messages/{i}/name", message["name"], indirect
                if "tool_calls" in message or "function_call" in message:
                    yield from _tool_calls(message, f"messages/{i}")
        tools = body.get("tools")
        if isinstance(tools, list):
            for k, tool in enumerate(tools):
                function = tool.get("function") if isinstance(tool, dict) else None
                if isinstance(function, dict) and isinstance(function.get("description"), str):
                    yield f"tools/{k}/function/description", function["description"], True
    elif method == "completion" or "prompt" in body:
        yield from _content(body.get("prompt"), "prompt", False)
        if isinstance(body.get("suffix"), str):
            yield "suffix", body["suffix"], False
    elif method == "embedding" or "input" in body:
        yield from _content(body.get("input"), "input", False)


def response_strings(body: dict[str, Any], method: str) -> Strings:
    """(location, text, True) for every string a response carries back."""
    if not isinstance(body, dict):
        return
    choices = body.get("choices")
    if not isinstance(choices, list):
        return
    for i, choice in enumerate(choices):
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            yield f"choices/{i}/text", choice["text"], True
        for key in ("message", "delta"):
            message = choice.get(key)
            if isinstance(message, dict):
                yield from _content(message.get("content"), f"choices/{i}/{key}/content", True)
                if "tool_calls" in message or "function_call" in message:
                    yield from _tool_calls(message, f"choices/{i}/{key}")
