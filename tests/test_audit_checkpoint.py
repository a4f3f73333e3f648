"""Signed checkpoints: the note format, Ed25519 signatures, and signing-key files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atlasgate.audit.checkpoint import (
    Checkpoint,
    load_or_create_signing_key,
    load_public_key,
    open_checkpoint,
    parse_note,
    public_key_fingerprint,
    public_key_from_pem,
    public_key_pem,
    sign_checkpoint,
)
from atlasgate.audit.errors import (
    AuditError,
    MalformedCheckpointError,
    SignatureError,
    UnknownKeyError,
)
from atlasgate.audit.merkle import EMPTY_ROOT

ROOT = hashlib.sha256(b"some root").digest()
CHECKPOINT = Checkpoint("gw.example/prod", 42, ROOT, "2026-11-25T12:00:00.000000Z")


def test_body_is_origin_size_base64_root_and_time_on_their_own_lines() -> None:
    root64 = base64.b64encode(ROOT).decode()
    assert CHECKPOINT.body() == (f"gw.example/prod\n42\n{root64}\n2026-11-25T12:00:00.000000Z\n".encode())


def test_signed_note_verifies_and_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(CHECKPOINT, key)
    body, _, signature_block = note.partition("\n\n")
    assert body + "\n" == CHECKPOINT.body().decode()
    assert signature_block.startswith("— gw.example/prod ")
    assert open_checkpoint(note, key.public_key()) == CHECKPOINT


def test_key_id_follows_the_signed_note_convention() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    note = sign_checkpoint(CHECKPOINT, key)
    _, body, signatures = parse_note(note)
    expected = hashlib.sha256(b"gw.example/prod\n\x01" + raw).digest()[:4]
    assert signatures[0].key_id == expected
    key.public_key().verify(signatures[0].signature, body)


def test_a_different_key_is_reported_as_unknown() -> None:
    note = sign_checkpoint(CHECKPOINT, Ed25519PrivateKey.generate())
    with pytest.raises(UnknownKeyError, match="not signed by the trusted key"):
        open_checkpoint(note, Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    ("old", "new"),
    [("\n42\n", "\n43\n"), ("prod", "prud"), ("12:00:00", "12:00:01")],
)
def test_any_change_to_the_body_breaks_the_signature(old: str, new: str) -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(CHECKPOINT, key).replace(old, new, 1)
    if old == "prod":  # the signature line names the origin too; keep it as signed
        note = note.replace("— gw.example/prud", "— gw.example/prod")
    with pytest.raises(SignatureError):
        open_checkpoint(note, key.public_key())


def test_a_forged_root_breaks_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(CHECKPOINT, key)
    forged = note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(EMPTY_ROOT).decode())
    assert forged != note
    with pytest.raises(SignatureError):
        open_checkpoint(forged, key.public_key())


@pytest.mark.parametrize(
    "note",
    [
        "",
        "atlasgate\n1\n",
        "atlasgate\n01\nAAAA\nt\n\n— atlasgate AAAAAAAA\n",
        "atlasgate\nten\nAAAA\nt\n\n— atlasgate AAAAAAAA\n",
        "atlasgate\n1\nnot-base64!\nt\n\n— atlasgate AAAAAAAA\n",
        "atlasgate\n1\nAAAA\nt\n\n— atlasgate AAAAAAAA\n",
        "atlasgate\n1\n" + base64.b64encode(ROOT).decode() + "\nt\n\nno dash line\n",
        "atlasgate\n1\n" + base64.b64encode(ROOT).decode() + "\nt\n\n— atlasgate AA==\n",
        "has space\n1\n" + base64.b64encode(ROOT).decode() + "\nt\n\n— x AAAAAAAA\n",
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        open_checkpoint(note, Ed25519PrivateKey.generate().public_key())


def test_signing_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert public_key_pem(again.public_key()) == public_key_pem(key.public_key())


def test_public_key_loads_from_private_or_public_pem(tmp_path: Path) -> None:
    private = tmp_path / "k.pem"
    key = load_or_create_signing_key(private)
    public = tmp_path / "k.pub"
    public.write_text(public_key_pem(key.public_key()))
    for path in (private, public):
        loaded = load_public_key(path)
        assert public_key_fingerprint(loaded) == public_key_fingerprint(key.public_key())
    assert public_key_fingerprint(key.public_key()).startswith("SHA256:")


def test_bad_key_files_give_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(AuditError, match="not an unencrypted PEM private key"):
        load_or_create_signing_key(garbage)
    with pytest.raises(AuditError, match="cannot read"):
        load_public_key(tmp_path / "missing.pem")
    with pytest.raises(AuditError, match="not a PEM Ed25519"):
        public_key_from_pem("-----BEGIN NOTHING-----")
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(AuditError, match="Ed25519"):
        load_or_create_signing_key(other)


def test_a_signing_key_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.pem"
    load_or_create_signing_key(path)
    load_or_create_signing_key(path)
    assert "readable by other users" not in caplog.text
    path.chmod(0o644)
    load_or_create_signing_key(path)
    assert "readable by other users" in caplog.text
