"""Every detector the gateway ships, with the ATLAS techniques it gives evidence of.

Coverage is computed from this table, so a detector that is disabled in the
configuration covers nothing and a technique is listed here only when a detector
really looks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["request", "response", "both"]


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    name: str
    description: str
    techniques: tuple[str, ...]
    phase: Phase


def _table(*infos: DetectorInfo) -> dict[str, DetectorInfo]:
    return {info.name: info for info in infos}


DETECTORS: dict[str, DetectorInfo] = _table(
    DetectorInfo(
        "injection",
        "Prompt injection: instruction overrides, forged role or delimiter markers and "
        "exfiltration payloads, in any message role, tool call or tool result, and in model "
        "output that would travel on to tools (heuristics and the shipped classifier)",
        ("AML.T0051.000", "AML.T0051.001"),
        "both",
    ),
    DetectorInfo(
        "jailbreak",
        "Jailbreaks: persona and role-play attacks (DAN-style), developer mode, refusal "
        "suppression, many-shot dialogues and hypothetical framing (heuristics and classifier)",
        ("AML.T0054",),
        "request",
    ),
    DetectorInfo(
        "extraction",
        "Requests for the system prompt, initial instructions, hidden rules, tools or "
        "special tokens of the model",
        ("AML.T0056", "AML.T0069", "AML.T0069.000", "AML.T0069.001", "AML.T0069.002"),
        "request",
    ),
    DetectorInfo(
        "obfuscation",
        "Hidden or disguised text: invisible, bidi and tag characters, homoglyphs, "
        "full-width forms, spaced-out letters, leetspeak and base64 / hex / URL / ROT13 "
        "payloads (decoded payloads are inspected by the other detectors too)",
        ("AML.T0068",),
        "both",
    ),
    DetectorInfo(
        "secrets",
        "Credentials: cloud keys, provider API tokens, private keys, JWTs, passwords in URLs "
        "and high-entropy tokens, with checksum or structure checks",
        ("AML.T0055", "AML.T0057"),
        "both",
    ),
    DetectorInfo(
        "pii",
        "Personal data: e-mail, phone numbers, payment cards (Luhn), IBAN (mod 97), national "
        "IDs with their check rules, IP addresses and street addresses",
        ("AML.T0057",),
        "both",
    ),
    DetectorInfo(
        "leakage",
        "Model output that repeats the configured system prompt or a canary string",
        ("AML.T0056", "AML.T0057"),
        "response",
    ),
)
