"""Personal data in text, each kind checked by its own validity rule.

A 16-digit number is a payment card only if it passes Luhn and starts with an
issuer prefix; an IBAN must have its country's length and pass mod 97; national
IDs use their check digits or reserved-range rules. This keeps order numbers,
timestamps and version strings out of the findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from atlasgate.detectors.content.patterns import compile_re

TECHNIQUES = ("AML.T0057",)

_PATTERNS = {
    "email": r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}\b",
    "phone": r"(?:\+[1-9]\d{0,2}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}"
    r"|\(?\b[2-9]\d{2}\)?[ .\-]\d{3}[ .\-]\d{4})\b",
    "credit_card": r"\b\d(?:[ \-]?\d){12,18}\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    "us_ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "uk_nino": r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    "es_dni": r"\b[XYZ0-9]\d{7}-?[A-Z]\b",
    "in_aadhaar": r"\b[2-9]\d{3} \d{4} \d{4}\b",
    "ip_address": r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
    r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}",
    "street_address": r"\b\d{1,6}[A-Za-z]? (?:[A-Z][a-z]+ ){1,4}(?:Street|St|Avenue|Ave|Road|Rd"
    r"|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Pkwy|Square|Sq)\b\.?"
    r"|\b\p{Lu}\p{Ll}+(?:straße|strasse|weg|allee|platz|gasse|ring) \d{1,4}[a-z]?\b",
}
_COMBINED = compile_re("|".join(f"(?P<{k}>{v})" for k, v in _PATTERNS.items()))
_SCORES = {"email": 0.9, "phone": 0.7, "credit_card": 0.95, "iban": 0.95, "us_ssn": 0.85,
           "uk_nino": 0.8, "es_dni": 0.85, "in_aadhaar": 0.85, "ip_address": 0.6,
           "street_address": 0.6}

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "KW": 30, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 7, 6, 8, 0], [4, 2, 8, 9, 5, 7, 0, 3, 6, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = ord(ch) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_issuer_ok(digits: str) -> bool:
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    three, six = int(digits[:3]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if four == 6011 or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= three <= 305:
        return 14 <= n <= 19
    if two == 62:
        return 16 <= n <= 19
    return False


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _ssn_valid(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _dni_valid(value: str) -> bool:
    value = value.replace("-", "")
    number = value[:-1].replace("X", "0").replace("Y", "1").replace("Z", "2")
    return _DNI_LETTERS[int(number) % 23] == value[-1]


def _verhoeff_valid(digits: str) -> bool:
    check = 0
    for index, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][int(ch)]]
    return check == 0


def _phone_valid(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if value.startswith("+"):
        return 8 <= digits <= 15
    return digits == 10


def _ip_score(value: str) -> float:
    if ":" in value:
        groups = [g for g in value.split(":") if g]
        if len(groups) < 3 or not any(c.isdigit() for c in value):
            return 0.0
        if value.count(":") < 7 and "::" not in value:
            return 0.0
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return 0.0
    if address.is_private or address.is_loopback or address.is_reserved or address.is_unspecified:
        return 0.3
    return 0.6


def _check(kind: str, value: str) -> float:
    """The score of a candidate, or 0.0 when it fails its validity rule."""
    if kind == "credit_card":
        digits = "".join(c for c in value if c.isdigit())
        ok = 13 <= len(digits) <= 19 and _card_issuer_ok(digits) and luhn_valid(digits)
    elif kind == "iban":
        ok = iban_valid(value)
    elif kind == "us_ssn":
        ok = _ssn_valid(value)
    elif kind == "uk_nino":
        ok = value[:2] not in _NINO_BAD_PREFIXES
    elif kind == "es_dni":
        ok = _dni_valid(value)
    elif kind == "in_aadhaar":
        ok = _verhoeff_valid(value.replace(" ", ""))
    elif kind == "phone":
        ok = _phone_valid(value)
    elif kind == "ip_address":
        return _ip_score(value)
    else:
        ok = True
    return _SCORES[kind] if ok else 0.0


def find(text: str) -> Iterator[tuple[str, tuple[int, int], float]]:
    """(kind, span, score) for each valid piece of personal data in ``text``."""
    for match in _COMBINED.finditer(text):
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        value = match.group()
        score = _check(kind, value)
        if score == 0.0 and kind in ("credit_card", "us_ssn", "in_aadhaar"):
            alt = "phone"
            score = _check(alt, value) if any(c in value for c in " -.") else 0.0
            kind = alt
        if score > 0.0:
            yield kind, match.span(), score
