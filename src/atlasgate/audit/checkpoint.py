"""Signed checkpoints: the log's size and root, signed with Ed25519.

A checkpoint is a C2SP signed note whose body follows the C2SP ``tlog-checkpoint``
layout, with the signing time as an extension line::

    <origin>
    <tree size>
    <base64 root hash>
    <timestamp, RFC 3339 UTC>

    — <origin> <base64(key id || Ed25519 signature)>

The signature covers the body bytes exactly, so origin, size, root and time cannot be
altered without the private key. The 4-byte key id is SHA-256(name "\\n" 0x01 pubkey),
so a verifier can tell "signed by another key" from "signature does not match".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atlasgate.audit.errors import (
    AuditError,
    MalformedCheckpointError,
    SignatureError,
    UnknownKeyError,
)
from atlasgate.audit.merkle import HASH_SIZE

logger = logging.getLogger("atlasgate.audit")

_SIGNATURE_PREFIX = "\u2014 "
_ED25519_ALGORITHM = b"\x01"
_ORIGIN = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "load_or_create_signing_key",
    "load_public_key",
    "load_signing_key",
    "open_checkpoint",
    "parse_note",
    "public_key_fingerprint",
    "public_key_from_pem",
    "public_key_pem",
    "sign_checkpoint",
]


def valid_origin(origin: str) -> bool:
    return bool(_ORIGIN.fullmatch(origin))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint commits to; signed as ``body()``."""

    origin: str
    tree_size: int
    root: bytes
    timestamp: str

    def body(self) -> bytes:
        if not valid_origin(self.origin):
            raise AuditError(f"checkpoint origin {self.origin!r} must be non-empty, no spaces or '+'")
        if "\n" in self.timestamp or not self.timestamp:
            raise AuditError("checkpoint timestamp must be one non-empty line")
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.tree_size}\n{root}\n{self.timestamp}\n".encode()


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519_ALGORITHM + raw).digest()[:4]


def sign_checkpoint(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    """The signed note text for ``checkpoint``."""
    body = checkpoint.body()
    kid = key_id(checkpoint.origin, key.public_key())
    blob = base64.b64encode(kid + key.sign(body)).decode("ascii")
    return f"{body.decode()}\n{_SIGNATURE_PREFIX}{checkpoint.origin} {blob}\n"


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) != 5 or lines[-1] != "":
        raise MalformedCheckpointError(
            "checkpoint body must be four lines: origin, tree size, root, timestamp"
        )
    origin, size_text, root_text, timestamp = lines[:4]
    if not valid_origin(origin):
        raise MalformedCheckpointError(f"checkpoint origin {origin!r} is not valid")
    if not _SIZE.fullmatch(size_text):
        raise MalformedCheckpointError(f"checkpoint tree size {size_text!r} is not a number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise MalformedCheckpointError("checkpoint root is not base64") from None
    if len(root) != HASH_SIZE:
        raise MalformedCheckpointError(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
    if not timestamp:
        raise MalformedCheckpointError("checkpoint timestamp is empty")
    return Checkpoint(origin=origin, tree_size=int(size_text), root=root, timestamp=timestamp)


def parse_note(note: str) -> tuple[Checkpoint, bytes, list[NoteSignature]]:
    """Split a note into checkpoint, signed body bytes and signatures, verifying nothing."""
    if not isinstance(note, str):
        raise MalformedCheckpointError("checkpoint note must be text")
    split = note.find("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedCheckpointError("checkpoint note has no signature block")
    body = note[: split + 1]
    signatures: list[NoteSignature] = []
    for line in note[split + 2 : -1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise MalformedCheckpointError(f"not a signature line: {line[:60]!r}")
        parts = line[len(_SIGNATURE_PREFIX) :].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise MalformedCheckpointError(f"malformed signature line: {line[:60]!r}")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error:
            raise MalformedCheckpointError("signature is not base64") from None
        if len(blob) < 5:
            raise MalformedCheckpointError("signature is too short")
        signatures.append(NoteSignature(parts[0], blob[:4], blob[4:]))
    return _parse_body(body), body.encode(), signatures


def open_checkpoint(note: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Verify the note's signature with ``public_key`` and return the checkpoint."""
    checkpoint, body, signatures = parse_note(note)
    found = []
    for signature in signatures:
        if signature.key_id != key_id(signature.name, public_key):
            found.append(f"{signature.name}/{signature.key_id.hex()}")
            continue
        try:
            public_key.verify(signature.signature, body)
        except InvalidSignature:
            raise SignatureError(
                f"signature on checkpoint of size {checkpoint.tree_size} does not match its body"
            ) from None
        return checkpoint
    expected = key_id(checkpoint.origin, public_key).hex()
    raise UnknownKeyError(
        f"checkpoint of size {checkpoint.tree_size} is not signed by the trusted key "
        f"({checkpoint.origin}/{expected}); signed by: {', '.join(found) or 'nobody'}"
    )


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        if os.stat(path).st_mode & 0o077:
            logger.warning(
                "signing key %s is readable by other users; restrict it with chmod 600", path
            )
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"{path}: cannot read signing key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuditError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"{path}: the signing key must be Ed25519")
    return key


def load_or_create_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load the Ed25519 key at ``path``, creating it (mode 0600) if it does not exist."""
    target = Path(path)
    if not target.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_signing_key(target)
        except OSError as exc:
            raise AuditError(f"{path}: cannot create signing key: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    return load_signing_key(target)


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_from_pem(text: str | bytes, source: str = "public key") -> Ed25519PublicKey:
    data = text.encode() if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise AuditError(f"{source}: not a PEM Ed25519 public or private key") from None
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{source}: the key must be Ed25519")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Public key from a PEM public key file, or the public half of a PEM private key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"{path}: cannot read key: {exc.strerror}") from None
    return public_key_from_pem(data, str(path))


def public_key_fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
