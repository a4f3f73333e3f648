"""Credentials are found by structure; ordinary text, hashes and placeholders are not."""

from __future__ import annotations

import pytest

from atlasgate.detectors.content import secrets


def kinds(text: str) -> list[tuple[str, str]]:
    return [(kind, text[a:b]) for kind, (a, b), _ in secrets.find(text)]


JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("aws id AKIAIOSFODNN7EXAMPLE here", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_key",
         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a ok", "github_token",
         "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("glpat-Xq3vZk9Lm2Pn8Rt4Yw6B", "gitlab_token", "glpat-Xq3vZk9Lm2Pn8Rt4Yw6B"),
        ("key sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kL9nP2rS5uV8xA1dG4" + " end",
         "openai_api_key", "sk-proj-Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kL9nP2rS5uV8xA1dG4"),
        ("AIzaSyD3x4mpl3K3y_abcdefghijklmnopqrstu", "google_api_key",
         "AIzaSyD3x4mpl3K3y_abcdefghijklmnopqrstu"),
        ("xoxb-123456789012-123456789012-AbCdEfGhIjKlMnOp", "slack_token",
         "xoxb-123456789012-123456789012-AbCdEfGhIjKlMnOp"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        (f"Authorization: Bearer {JWT}", "jwt", JWT),
        ("db: postgres://admin:S3cr3tPass@db.internal:5432/app", "password_in_url", "S3cr3tPass"),
        ('config = {"password": "correct-horse-battery"}', "password_assignment",
         "correct-horse-battery"),
        ("blob Zx8Kq2Lm9Pw4Rt7Yv1Bn6Hc3Jd5Fg0Sa2Qe end", "high_entropy_token",
         "Zx8Kq2Lm9Pw4Rt7Yv1Bn6Hc3Jd5Fg0Sa2Qe"),
    ],
)
def test_credential_formats(text: str, kind: str, value: str) -> None:
    assert (kind, value) in kinds(text)


def test_private_key_block_is_one_finding() -> None:
    pem = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
           "AAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5\n-----END OPENSSH PRIVATE KEY-----")
    found = kinds(f"here you go:\n{pem}\nthanks")
    assert found == [("private_key", pem)]


def test_jwt_shape_without_a_json_header_is_not_reported() -> None:
    assert not [k for k, _ in kinds("eyJub3QganNvbg.eyJhbHNvIG5vdA.c2lnbmF0dXJlc2lnbmF0dXJl")
                if k == "jwt"]


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog.",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "uuid 123e4567-e89b-12d3-a456-426614174000 and version 1.2.3",
        "set password = \"${DB_PASSWORD}\" from the environment",
        "postgres://user:${PASSWORD}@localhost/db",
        "a_long_python_identifier_name_that_is_quite_descriptive_indeed = 1",
        "Use YOUR_API_KEY_PLACEHOLDER_VALUE_HERE_1234567890 in the example",
        "aGVsbG8gdGhlcmUgdGhpcyBpcyBqdXN0IGEgYmFzZTY0IHNlbnRlbmNl",
    ],
)
def test_ordinary_text_has_no_secrets(text: str) -> None:
    assert kinds(text) == []


def test_encoded_credentials_are_found_in_the_decoded_payload() -> None:
    import base64

    from atlasgate.detectors.content import ContentInspector

    encoded = base64.b64encode(b"AKIAIOSFODNN7EXAMPLE").decode()
    text = f"config blob: {encoded}"
    found = [f for f in ContentInspector().inspect_text(text) if f.detector == "secrets"]
    assert [(f.kind, text[f.span[0]:f.span[1]]) for f in found if f.span] == [
        ("aws_access_key", encoded)]
    assert "AML.T0068" in found[0].techniques
