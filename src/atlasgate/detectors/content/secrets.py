"""Credentials in text: provider keys, private keys, JWTs, passwords in URLs, random tokens.

Each format is matched by its documented structure, and checked further where the
format allows (a JWT header must decode to JSON with ``alg``; a generic token must
look random), so that identifiers and ordinary words are not reported.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

from atlasgate.detectors.content.decoders import decode_base64, readable
from atlasgate.detectors.content.patterns import PatternGroup, compile_re

TECHNIQUES = ("AML.T0055", "AML.T0057")

# kind -> (pattern, score). Group "s" (when present) is the secret itself.
_RULES: dict[str, tuple[str, float]] = {
    "aws_access_key": (r"\b(?P<s>(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16})\b", 0.95),
    "aws_secret_key": (
        r"(?i)aws.{0,20}?(?:secret|private).{0,20}?[:=]\s*[\"']?(?P<s>[A-Za-z0-9/+]{40})\b",
        0.95,
    ),
    "github_token": (r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36,255})\b", 0.95),
    "github_fine_grained_token": (r"\b(?P<s>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b", 0.95),
    "gitlab_token": (r"\b(?P<s>glpat-[A-Za-z0-9_\-]{20,})\b", 0.95),
    "openai_api_key": (
        r"\b(?P<s>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}"
        r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,})",
        0.95,
    ),
    "anthropic_api_key": (r"\b(?P<s>sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,})", 0.95),
    "google_api_key": (r"\b(?P<s>AIza[0-9A-Za-z_\-]{35})", 0.9),
    "slack_token": (r"\b(?P<s>xox[abposr]-(?:\d+-)+[A-Za-z0-9]{10,})", 0.95),
    "slack_webhook": (
        r"(?P<s>https://hooks\.slack\.com/services/T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{20,})",
        0.95,
    ),
    "stripe_key": (r"\b(?P<s>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,})", 0.95),
    "huggingface_token": (r"\b(?P<s>hf_[A-Za-z]{34})\b", 0.9),
    "npm_token": (r"\b(?P<s>npm_[A-Za-z0-9]{36})\b", 0.9),
    "pypi_token": (r"\b(?P<s>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})", 0.95),
    "sendgrid_key": (r"\b(?P<s>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b", 0.95),
    "twilio_key": (r"\b(?P<s>SK[0-9a-f]{32})\b", 0.8),
    "azure_storage_key": (r"(?i)AccountKey=(?P<s>[A-Za-z0-9+/]{86}==)", 0.95),
    "private_key": (
        r"(?P<s>-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
        r"[A-Za-z0-9+/=\s:,\-]*?(?:-----END [A-Z ]{0,24}PRIVATE KEY(?: BLOCK)?-----|$))",
        0.99,
    ),
    "jwt": (
        r"\b(?P<s>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,})",
        0.9,
    ),
    "password_in_url": (
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://[^\s:/@\"']{1,64}:(?P<s>[^\s@/\"']{3,128})@[\w.\-]+",
        0.9,
    ),
    "password_assignment": (
        r"(?i)\b(?:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token)"
        r"[\"']?\s{0,3}[:=]\s{0,3}[\"'](?P<s>[^\s\"']{8,128})[\"']",
        0.7,
    ),
}

_COMBINED = compile_re("|".join(f"(?P<{kind}>{pattern.replace('(?P<s>', '(?:')})"
                                for kind, (pattern, _) in _RULES.items()
                                if not pattern.startswith("(?i)")))
_CASELESS = {kind: compile_re(pattern) for kind, (pattern, _) in _RULES.items()
             if pattern.startswith("(?i)")}
_SECRET_GROUP = {kind: compile_re(pattern) for kind, (pattern, _) in _RULES.items()}
_GENERIC = compile_re(r"(?:^|[\s\"'=:(,])(?P<s>[A-Za-z0-9+/_\-]{32,128}={0,2})(?:$|[\s\"',;)])")
_ANY = PatternGroup(_COMBINED, *_CASELESS.values(), _GENERIC)
_PLACEHOLDER_WORDS = ("example", "xxxx", "your", "placeholder", "redacted", "dummy", "sample")


def _jwt_ok(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        data: Any = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(data, dict) and "alg" in data


def _entropy(token: str) -> float:
    counts = Counter(token)
    total = len(token)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _random_looking(token: str) -> bool:
    """A token of mixed classes with high per-character entropy (not a word or a hash)."""
    if any(word in token.lower() for word in _PLACEHOLDER_WORDS):
        return False
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    has_digit = any(c.isdigit() for c in token)
    if not (has_upper and has_lower and has_digit):
        return False
    if "-" in token or "_" in token:
        parts = [p for p in token.replace("_", "-").split("-") if p]
        if parts and max(len(p) for p in parts) < 16:
            return False
    if _entropy(token) < 4.3:
        return False
    decoded = decode_base64(token)
    return decoded is None or not readable(decoded)


def _secret_span(kind: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    pattern = _SECRET_GROUP[kind]
    match = pattern.search(text, start, end)
    if match is None:
        return None
    return match.span(pattern.groupindex["s"])


def find(text: str, generic: bool = True) -> Iterator[tuple[str, tuple[int, int], float]]:
    """(kind, span of the secret, score) for each credential in ``text``."""
    if not _ANY.may_match(text):
        return
    taken: list[tuple[int, int]] = []
    for match in _COMBINED.finditer(text):
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        span = _secret_span(kind, text, *match.span())
        if span is None:
            continue
        secret = text[span[0]:span[1]]
        if kind == "jwt" and not _jwt_ok(secret):
            continue
        if kind == "password_in_url" and secret.startswith(("$", "{", "<", "%")):
            continue
        taken.append(span)
        yield kind, span, _RULES[kind][1]
    for kind, pattern in _CASELESS.items():
        group = pattern.groupindex["s"]
        for match in pattern.finditer(text):
            span = match.span(group)
            secret = text[span[0]:span[1]]
            if any(a < span[1] and span[0] < b for a, b in taken):
                continue
            if kind == "password_assignment" and (
                secret.lower() in ("password", "changeme") or secret.startswith(("$", "{", "<"))
            ):
                continue
            taken.append(span)
            yield kind, span, _RULES[kind][1]
    if not generic:
        return
    group = _GENERIC.groupindex["s"]
    for match in _GENERIC.finditer(text):
        span = match.span(group)
        if any(a < span[1] and span[0] < b for a, b in taken):
            continue
        if _random_looking(text[span[0]:span[1]]):
            taken.append(span)
            yield "high_entropy_token", span, 0.6
