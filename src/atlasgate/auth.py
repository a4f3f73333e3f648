"""API keys: configuration holds only their SHA-256; a request's bearer token maps to an identity.

API keys are long random strings, so a fast hash is the right tool (as for GitHub
and Stripe tokens); a slow password hash would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from atlasgate.config.schema import KeySpec

KEY_PREFIX = "ag-"


@dataclass(frozen=True, slots=True)
class Identity:
    key_id: str
    tenant: str
    user: str
    admin: bool


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    def __init__(self, specs: list[KeySpec]) -> None:
        self._by_hash = {
            spec.hash: Identity(spec.id, spec.tenant, spec.user or spec.id, spec.admin)
            for spec in specs
        }

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: bytes | None) -> Identity | None:
        """The identity for an ``Authorization: Bearer <key>`` header value, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return None
        try:
            text = token.strip().decode("ascii")
        except UnicodeDecodeError:
            return None
        return self._by_hash.get(hash_key(text))
