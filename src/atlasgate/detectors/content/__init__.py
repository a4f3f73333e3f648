"""Content inspection for LLM traffic: injection, jailbreak, extraction, obfuscation,
secrets, PII and output leakage, in requests, responses and streams."""

from atlasgate.detectors.content.inspector import ContentInspector
from atlasgate.detectors.content.redact import PlaceholderState, restore
from atlasgate.detectors.content.stream import StreamRelease, StreamScanner

__all__ = ["ContentInspector", "PlaceholderState", "StreamRelease", "StreamScanner", "restore"]
