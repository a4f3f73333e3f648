"""Provenance manifests: what a data set contained, where it came from, signed.

A manifest lists the SHA-256 of every file under a directory, the source, the time
and the profile used, and is signed with the gateway's Ed25519 key over its
canonical JSON (sorted keys, no whitespace). Verification re-hashes the directory
and names every file added, removed or changed, and any signature problem.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atlasgate.audit.checkpoint import load_or_create_signing_key
from atlasgate.data.errors import DataError
from atlasgate.errors import AuditError

FORMAT = "atlasgate.data.manifest/1"
CHUNK = 1 << 20


@dataclass
class ManifestReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    signature_ok: bool = False
    signature_problem: str = ""
    key_pinned: bool = False
    profile_problem: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.signature_ok
            and not (self.added or self.removed or self.changed)
            and not self.profile_problem
        )

    def as_record(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "signature_ok": self.signature_ok,
            "signature_problem": self.signature_problem,
            "key_pinned": self.key_pinned,
            "profile_problem": self.profile_problem,
        }

    def to_text(self) -> str:
        lines = ["OK" if self.ok else "FAILED"]
        if self.signature_ok:
            lines.append(
                "signature: valid"
                + ("" if self.key_pinned else " (checked against the key inside the manifest only)")
            )
        else:
            lines.append(f"signature: BAD ({self.signature_problem})")
        for label, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            for name in names:
                lines.append(f"{label}: {name}")
        if self.profile_problem:
            lines.append(f"profile: {self.profile_problem}")
        return "\n".join(lines)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(directory: Path, exclude: set[Path] | None = None) -> dict[str, dict[str, Any]]:
    """Relative POSIX path → {sha256, bytes} for every regular file, symlinks not followed."""
    exclude = {p.resolve() for p in (exclude or set())}
    out: dict[str, dict[str, Any]] = {}
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file() or path.resolve() in exclude:
                continue
            rel = path.relative_to(directory).as_posix()
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def load_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        return load_or_create_signing_key(path)
    except AuditError as exc:
        raise DataError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise DataError(f"not an Ed25519 private key in PEM: {exc}", str(path)) from None


def build_manifest(
    directory: str | Path,
    *,
    source: str,
    profile_path: str | Path | None,
    signing_key_path: str | Path,
    exclude: list[str | Path] | None = None,
) -> dict[str, Any]:
    root = Path(directory)
    if not root.is_dir():
        raise DataError("not a directory", str(directory))
    files = hash_tree(root, {Path(p) for p in exclude or []})
    if not files:
        raise DataError("the directory holds no files to record", str(directory))
    profile = None
    if profile_path is not None:
        ppath = Path(profile_path)
        if not ppath.is_file():
            raise DataError("no such profile file", str(profile_path))
        profile = {"path": str(profile_path), "sha256": sha256_file(ppath)}
    key = load_key(signing_key_path)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source,
        "directory": str(directory),
        "files": [{"path": p, **files[p]} for p in sorted(files)],
        "profile": profile,
    }
    public = key.public_key()
    manifest["signature"] = {
        "algorithm": "Ed25519",
        "key_id": key_id(public),
        "public_key": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        "value": base64.b64encode(key.sign(canonical(manifest))).decode("ascii"),
    }
    return manifest


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_manifest(
    manifest: dict[str, Any],
    *,
    directory: str | Path | None = None,
    trusted_key: Ed25519PublicKey | None = None,
    check_profile: bool = True,
    exclude: list[str | Path] | None = None,
) -> ManifestReport:
    """Check the signature, then compare the manifest with the directory's files now."""
    report = ManifestReport()
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"not an AtlasGate data manifest (expected format {FORMAT})")
    _check_signature(manifest, trusted_key, report)
    root = Path(directory if directory is not None else manifest.get("directory", "."))
    if not root.is_dir():
        raise DataError("the manifest's directory does not exist; pass it explicitly", str(root))
    recorded = {
        str(f.get("path")): str(f.get("sha256")) for f in manifest.get("files", []) if isinstance(f, dict)
    }
    current = hash_tree(root, {Path(p) for p in exclude or []})
    report.added = sorted(set(current) - set(recorded))
    report.removed = sorted(set(recorded) - set(current))
    report.changed = sorted(p for p in set(recorded) & set(current) if current[p]["sha256"] != recorded[p])
    profile = manifest.get("profile")
    if check_profile and isinstance(profile, dict):
        ppath = Path(str(profile.get("path", "")))
        if not ppath.is_file():
            report.profile_problem = f"profile {ppath} not found"
        elif sha256_file(ppath) != profile.get("sha256"):
            report.profile_problem = f"profile {ppath} changed since the manifest was signed"
    return report


def _check_signature(
    manifest: dict[str, Any], trusted: Ed25519PublicKey | None, report: ManifestReport
) -> None:
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != "Ed25519":
        report.signature_problem = "missing or not an Ed25519 signature"
        return
    try:
        embedded = serialization.load_pem_public_key(str(signature["public_key"]).encode())
        value = base64.b64decode(str(signature["value"]), validate=True)
    except (KeyError, ValueError, TypeError) as exc:
        report.signature_problem = f"unreadable signature block ({exc})"
        return
    if not isinstance(embedded, Ed25519PublicKey):
        report.signature_problem = "the embedded public key is not Ed25519"
        return
    key = embedded
    if trusted is not None:
        report.key_pinned = True
        if key_id(trusted) != key_id(embedded):
            report.signature_problem = (
                f"signed by key {key_id(embedded)}, not by the trusted key {key_id(trusted)}"
            )
            return
        key = trusted
    try:
        key.verify(value, canonical(manifest))
    except InvalidSignature:
        report.signature_problem = "signature does not match the manifest's contents"
        return
    report.signature_ok = True


def load_manifest(path: str | Path) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise DataError("no such manifest file", str(path)) from None
    except orjson.JSONDecodeError as exc:
        raise DataError(f"manifest is not valid JSON: {exc}", str(path)) from None
    if not isinstance(data, dict):
        raise DataError("manifest must be a JSON object", str(path))
    return data


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """A trusted key from a PEM file holding either the public or the private key."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read key: {exc.strerror or exc}", str(path)) from None
    try:
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise DataError("not an Ed25519 key", str(path))
            return private.public_key()
        public = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise DataError(f"not a PEM key: {exc}", str(path)) from None
    if not isinstance(public, Ed25519PublicKey):
        raise DataError("not an Ed25519 key", str(path))
    return public
