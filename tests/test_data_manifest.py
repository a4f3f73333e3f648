"""Provenance manifests: signed, and verification names every file added, removed or changed."""

from __future__ import annotations

import os
import stat

import pytest

from atlasgate.data.errors import DataError
from atlasgate.data.manifest import build_manifest, load_public_key, verify_manifest


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x,y\n1,2\n")
    (root / "sub" / "b.csv").write_text("x,y\n3,4\n")
    profile = tmp_path / "profile.json"
    profile.write_text("{}")
    key = tmp_path / "keys" / "signing-key.pem"
    manifest = build_manifest(root, source="vendor-x", profile_path=profile, signing_key_path=key)
    return root, profile, key, manifest


def test_manifest_records_every_file_and_verifies(tree):
    root, _, key, manifest = tree
    assert [f["path"] for f in manifest["files"]] == ["a.csv", "sub/b.csv"]
    assert manifest["source"] == "vendor-x"
    assert manifest["profile"]["sha256"]
    report = verify_manifest(manifest, directory=root, trusted_key=load_public_key(key))
    assert report.ok
    assert report.key_pinned


def test_missing_key_is_created_private(tree):
    _, _, key, _ = tree
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_changes_are_named(tree):
    root, _, _, manifest = tree
    (root / "a.csv").write_text("x,y\n1,3\n")
    (root / "sub" / "b.csv").unlink()
    (root / "c.csv").write_text("new")
    report = verify_manifest(manifest, directory=root)
    assert report.changed == ["a.csv"]
    assert report.removed == ["sub/b.csv"]
    assert report.added == ["c.csv"]
    assert report.signature_ok
    assert not report.ok


def test_edited_manifest_fails_its_signature(tree):
    root, _, _, manifest = tree
    forged = dict(manifest, source="someone else")
    report = verify_manifest(forged, directory=root)
    assert not report.signature_ok
    assert "does not match" in report.signature_problem


def test_manifest_signed_by_another_key_is_refused(tree, tmp_path):
    root, _profile, _, _ = tree
    other = build_manifest(root, source="x", profile_path=None, signing_key_path=tmp_path / "other.pem")
    trusted = load_public_key(tree[2])
    report = verify_manifest(other, directory=root, trusted_key=trusted)
    assert not report.signature_ok
    assert "not by the trusted key" in report.signature_problem


def test_changed_profile_is_reported(tree):
    root, profile, _, manifest = tree
    profile.write_text('{"changed": true}')
    report = verify_manifest(manifest, directory=root)
    assert "changed" in report.profile_problem
    assert not report.ok


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        build_manifest(tmp_path / "none", source="", profile_path=None, signing_key_path=tmp_path / "k")
    with pytest.raises(DataError, match="not an AtlasGate data manifest"):
        verify_manifest({"format": "x"}, directory=tmp_path)
    (tmp_path / "bad.pem").write_text("garbage")
    with pytest.raises(DataError, match=r"bad\.pem"):
        build_manifest(tmp_path, source="", profile_path=None, signing_key_path=tmp_path / "bad.pem")
