"""Personal data is found with its validity rule; look-alike numbers are not."""

from __future__ import annotations

import pytest

from atlasgate.detectors.content import pii


def found(text: str) -> list[tuple[str, str]]:
    return [(kind, text[a:b]) for kind, (a, b), _ in pii.find(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to jane.doe+news@mail.example.co.uk today", "email", "jane.doe+news@mail.example.co.uk"),
        ("call +44 20 7946 0958", "phone", "+44 20 7946 0958"),
        ("call (415) 555-2671 now", "phone", "(415) 555-2671"),
        ("card 4111 1111 1111 1111", "credit_card", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", "credit_card", "3782-822463-10005"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000", "iban", "DE89370400440532013000"),
        ("SSN 123-45-6789", "us_ssn", "123-45-6789"),
        ("NI number JG 10 37 26 A", "uk_nino", "JG 10 37 26 A"),
        ("DNI 12345678Z", "es_dni", "12345678Z"),
        ("Aadhaar 2341 2341 2346", "in_aadhaar", "2341 2341 2346"),
        ("server 203.0.113.9 is down", "ip_address", "203.0.113.9"),
        ("v6 2001:db8:85a3::8a2e:370:7334", "ip_address", "2001:db8:85a3::8a2e:370:7334"),
        ("ship to 221 Baker Street please", "street_address", "221 Baker Street"),
        ("wohnt in der Hauptstraße 5", "street_address", "Hauptstraße 5"),
    ],
)
def test_personal_data_kinds(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",            # fails Luhn
        "IBAN GB82 WEST 1234 5698 7654 33",    # fails mod 97
        "SSN 000-12-3456",                     # reserved area
        "DNI 12345678A",                       # wrong check letter
        "Aadhaar 2341 2341 2347",              # fails Verhoeff
        "order 2024-01-15 10:30:45, build 1.2.3, std::vector<int>",
        "the answer is 42 and pi is 3.14159",
    ],
)
def test_invalid_look_alikes_are_not_reported(text: str) -> None:
    assert [k for k, _ in found(text) if k not in ("phone",)] == []


def test_private_addresses_score_lower_than_public_ones() -> None:
    scores = {text[a:b]: s for text in ["10.0.0.1 and 8.8.8.8"] for _, (a, b), s in pii.find(text)}
    assert scores["10.0.0.1"] < scores["8.8.8.8"]


def test_luhn_and_iban_helpers() -> None:
    assert pii.luhn_valid("79927398713")
    assert not pii.luhn_valid("79927398710")
    assert pii.iban_valid("NL91 ABNA 0417 1643 00")
    assert not pii.iban_valid("NL91 ABNA 0417 1643 01")


def test_disguised_personal_data_is_found_at_its_original_characters() -> None:
    import base64

    from atlasgate.detectors.content import ContentInspector

    inspector = ContentInspector()
    cases = {
        "mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ now": "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "mail ja\u200bne@exa\u200bmple.com": "ja\u200bne@exa\u200bmple.com",
        "card ４１１１ １１１１ １１１１ １１１１": "４１１１ １１１１ １１１１ １１１１",
        "c " + base64.b64encode(b"jane.doe@example.com").decode():
            base64.b64encode(b"jane.doe@example.com").decode(),
    }
    for text, original in cases.items():
        found = [f for f in inspector.inspect_text(text) if f.detector == "pii"]
        assert len(found) == 1, text
        assert found[0].span is not None
        assert text[found[0].span[0]:found[0].span[1]] == original
        assert "AML.T0068" in found[0].techniques
