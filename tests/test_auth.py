"""API key authentication: a bearer token maps to its identity only through its hash."""

from __future__ import annotations

import pytest

from atlasgate.auth import Identity, KeyStore, hash_key, new_key
from atlasgate.config.schema import KeySpec

KEY = "ag-test-user-key-0123456789"
ADMIN_KEY = "ag-test-admin-key-9876543210"


@pytest.fixture
def store() -> KeyStore:
    return KeyStore([
        KeySpec(id="alice", hash=hash_key(KEY), tenant="acme", user="alice@acme"),
        KeySpec(id="ops", hash=hash_key(ADMIN_KEY), admin=True),
    ])


def test_a_configured_key_maps_to_its_identity(store: KeyStore) -> None:
    assert store.authenticate(f"Bearer {KEY}".encode()) == Identity("alice", "acme", "alice@acme",
                                                                      False)
    assert store.authenticate(f"Bearer {ADMIN_KEY}".encode()) == Identity("ops", "default", "ops",
                                                                            True)


def test_the_scheme_is_case_insensitive_and_spaces_around_the_token_are_ignored(
        store: KeyStore) -> None:
    assert store.authenticate(f"bearer {KEY}".encode()) is not None
    assert store.authenticate(f"BEARER  {KEY} ".encode()) is not None


@pytest.mark.parametrize("header", [
    None, b"", b"Bearer", b"Bearer ", b"Basic " + KEY.encode(), KEY.encode(),
    b"Bearer " + KEY.encode() + b"x", b"Bearer " + KEY[:-1].encode(),
    "Bearer ag-tést-key".encode(), b"Bearer \xff\xfe",
])
def test_anything_but_a_configured_bearer_key_is_refused(store: KeyStore,
                                                         header: bytes | None) -> None:
    assert store.authenticate(header) is None


def test_the_configuration_holds_only_the_hash() -> None:
    key = new_key()
    assert key.startswith("ag-")
    assert len(key) > 40
    digest = hash_key(key)
    assert digest.startswith("sha256:")
    assert key not in digest
    assert len(KeyStore([KeySpec(id="k", hash=digest)])) == 1
