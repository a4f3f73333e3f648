"""Find payloads smuggled in an encoding and decode them for inspection.

A decoded payload is kept only when it reads as text (valid UTF-8, mostly
printable, with letters and spaces), so hashes, keys and binary blobs that happen
to be valid base64 or hex are not inspected as prose.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from atlasgate.detectors.content.patterns import PatternGroup, compile_re

_BASE64 = compile_re(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX = compile_re(r"\b(?:[0-9A-Fa-f]{2}[ :]?){12,}")
_ESCAPED_HEX = compile_re(r"(?:\\x[0-9A-Fa-f]{2}){6,}")
_URL = compile_re(r"[A-Za-z0-9._~+!*'(),;:@&=$\-]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9._~+!*'(),;:@&=$\-]*){4,}")
_ENCODED = PatternGroup(_BASE64, _HEX, _ESCAPED_HEX, _URL)
_ROT13_WORDS = frozenset({"gur", "naq", "lbh", "vf", "bs", "gb", "vtaber", "nyy", "cerivbhf",
                          "vafgehpgvbaf", "lbhe", "guvf", "jvgu", "sbe", "ner", "abj", "cebzcg"})
# One of those words standing alone in the lower-cased text, as _WORD would cut it out.
# Without one there is nothing to count; the shared set answers from its pass over the
# text itself (see PatternGroup.may_match_lowered), as it does for the phrase rules.
_ROT13_WORD = compile_re(r"(?:^|[^a-z])(?:" + "|".join(sorted(_ROT13_WORDS)) + r")(?:[^a-z]|$)",
                         reads_lowered=True)
_ROT13 = PatternGroup(_ROT13_WORD)
_PLAIN_WORDS = frozenset({"the", "and", "you", "is", "of", "to", "ignore", "all", "previous",
                          "instructions", "your", "this", "with", "for", "are", "now", "prompt"})
# One repeated character class: linear in Python's engine, and findall runs in C.
_WORD = re.compile(r"[a-z]+")

MAX_PAYLOADS = 6


@dataclass(frozen=True, slots=True)
class Payload:
    kind: str
    span: tuple[int, int]
    text: str


def readable(text: str) -> bool:
    """Prose, or one printable ASCII token (an encoded key or address); not random bytes."""
    if len(text) < 8:
        return False
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in text if c.isalpha())
    if printable < 0.95 * len(text) or letters < 0.5 * len(text):
        return False
    return " " in text or (text.isascii() and text.isprintable() and len(text) >= 12)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_base64(token: str) -> str | None:
    token = token.rstrip("=")
    if len(token) % 4 == 1:
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        if "-" in token or "_" in token:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _utf8(raw)


def _hex(token: str) -> str | None:
    digits = "".join(c for c in token if c not in " :\\x")
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return _utf8(bytes.fromhex(digits))
    except ValueError:
        return None


def _rot13_candidate(text: str) -> bool:
    lowered = text.lower()
    if not _ROT13.may_match_lowered(text, lowered):
        return False
    words = _WORD.findall(lowered)
    rot = sum(map(_ROT13_WORDS.__contains__, words))
    if rot < 3:
        return False
    plain = sum(map(_PLAIN_WORDS.__contains__, words))
    return rot > 2 * plain


def find_payloads(text: str) -> list[Payload]:
    """Encoded segments of ``text`` that decode to readable text, longest first."""
    found = _encoded(text) if _ENCODED.may_match(text) else []
    if _rot13_candidate(text):
        found.append(Payload("rot13", (0, len(text)), codecs.decode(text, "rot13")))
    if len(found) > 1:  # most texts carry none: no sort, no copy
        found.sort(key=lambda p: p.span[0] - p.span[1])
        del found[MAX_PAYLOADS:]
    return found


def _encoded(text: str) -> list[Payload]:
    """Base64, hex and URL-encoded segments that decode to readable text (kind by kind)."""
    found: list[Payload] = []
    for match in _BASE64.finditer(text):
        token = match.group()
        if token.isalpha() or token.isdigit():
            continue
        decoded = decode_base64(token)
        if decoded is not None and readable(decoded):
            found.append(Payload("base64", match.span(), decoded))
    for pattern in (_HEX, _ESCAPED_HEX):
        for match in pattern.finditer(text):
            decoded = _hex(match.group().replace("\\x", ""))
            if decoded is not None and readable(decoded):
                found.append(Payload("hex", match.span(), decoded))
    if "%" in text:
        for match in _URL.finditer(text):
            decoded = unquote_plus(match.group())
            if readable(decoded):
                found.append(Payload("url_encoding", match.span(), decoded))
    return found
