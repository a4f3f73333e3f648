"""Tampering with the stored log is detected and the first altered entry is named.

Each test builds a real log, then edits the SQLite file directly as an attacker with
write access would (dropping the append-only triggers first).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atlasgate.audit import AuditSettings, DecisionLog, open_reader, verify_log, verify_proof
from atlasgate.audit.checkpoint import (
    Checkpoint,
    load_public_key,
    parse_note,
    public_key_pem,
    sign_checkpoint,
)
from atlasgate.audit.errors import (
    AuditError,
    IndexOutOfRangeError,
    MalformedEntryError,
    ProofError,
    ProofLengthError,
    RootMismatchError,
    SignatureError,
    UnknownKeyError,
    VerificationError,
)
from atlasgate.audit.merkle import leaf_hash
from atlasgate.audit.proof import build_inclusion_proof
from atlasgate.audit.verify import VerificationReport

SIZE = 40


@pytest.fixture
def log_files(tmp_path: Path) -> AuditSettings:
    """A closed log of 40 entries with checkpoints at sizes 10, 20, 30 and 40."""
    settings = AuditSettings(
        path=str(tmp_path / "decisions.db"),
        signing_key=str(tmp_path / "key.pem"),
        checkpoint_every=10,
        checkpoint_interval=3600,
    )

    async def build() -> None:
        async with DecisionLog(settings) as log:
            for i in range(SIZE):
                await log.append({"decision_id": f"d{i}", "action": "ALLOW", "rule": None, "n": i})

    asyncio.run(build())
    return settings


def tamper(settings: AuditSettings, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with sqlite3.connect(settings.path) as db:
        for trigger in (
            "entries_no_update",
            "entries_no_delete",
            "checkpoints_no_update",
            "checkpoints_no_delete",
        ):
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for sql, params in statements:
            db.execute(sql, params)


def entry_bytes(settings: AuditSettings, seq: int) -> bytes:
    with sqlite3.connect(settings.path) as db:
        return bytes(db.execute("SELECT entry FROM entries WHERE seq = ?", (seq,)).fetchone()[0])


def verify(settings: AuditSettings) -> VerificationReport:
    with open_reader(settings.path) as reader:
        return verify_log(reader, load_public_key(settings.signing_key))


def bad_checkpoints(report: VerificationReport) -> list[tuple[int | None, str]]:
    return [(p.tree_size, p.kind) for p in report.bad_checkpoints]


def test_an_untouched_log_verifies(log_files: AuditSettings) -> None:
    report = verify(log_files)
    assert report.ok
    assert report.entries == SIZE
    assert report.checkpoints == report.verified_checkpoints == 4
    assert report.latest_verified is not None
    assert report.latest_verified.tree_size == SIZE
    assert report.uncovered == 0


def test_an_edited_entry_is_named(log_files: AuditSettings) -> None:
    edited = entry_bytes(log_files, 13).replace(b'"ALLOW"', b'"BLOCK"')
    tamper(log_files, ("UPDATE entries SET entry = ? WHERE seq = 13", (edited,)))
    report = verify(log_files)
    assert not report.ok
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.decision_id, problem.kind) == (13, "d13", "modified")
    assert bad_checkpoints(report) == [(20, "root-mismatch"), (30, "root-mismatch"), (40, "root-mismatch")]


def test_an_edit_that_also_rewrites_its_leaf_hash_is_caught_by_the_chain(
    log_files: AuditSettings,
) -> None:
    edited = entry_bytes(log_files, 13).replace(b'"ALLOW"', b'"BLOCK"')
    tamper(
        log_files, ("UPDATE entries SET entry = ?, leaf_hash = ? WHERE seq = 13", (edited, leaf_hash(edited)))
    )
    problem = verify(log_files).first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.decision_id, problem.kind) == (13, "d13", "modified")


def test_a_consistent_rewrite_of_the_tail_is_caught_by_the_checkpoint(
    log_files: AuditSettings,
) -> None:
    edited = entry_bytes(log_files, 37).replace(b'"ALLOW"', b'"BLOCK"')
    statements = [("UPDATE entries SET entry = ?, leaf_hash = ? WHERE seq = 37", (edited, leaf_hash(edited)))]
    prev = leaf_hash(edited)
    for seq in (38, 39):
        entry = orjson.loads(entry_bytes(log_files, seq))
        entry["prev"] = prev.hex()
        data = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
        prev = leaf_hash(data)
        statements.append(("UPDATE entries SET entry = ?, leaf_hash = ? WHERE seq = ?", (data, prev, seq)))
    tamper(log_files, *statements)
    report = verify(log_files)
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (30, "modified")
    assert "30..39" in problem.detail
    assert bad_checkpoints(report) == [(40, "root-mismatch")]


def test_non_canonical_bytes_are_reported_as_modified(log_files: AuditSettings) -> None:
    spaced = entry_bytes(log_files, 5).replace(b'"seq":5', b'"seq": 5')
    tamper(log_files, ("UPDATE entries SET entry = ? WHERE seq = 5", (spaced,)))
    problem = verify(log_files).first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (5, "modified")
    assert "canonical" in problem.detail


def test_a_deleted_entry_is_named(log_files: AuditSettings) -> None:
    tamper(log_files, ("DELETE FROM entries WHERE seq = 13", ()))
    report = verify(log_files)
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (13, "deleted")
    assert (20, "root-mismatch") in bad_checkpoints(report)
    assert (10, "root-mismatch") not in bad_checkpoints(report)


def test_a_deletion_hidden_by_renumbering_is_still_a_deletion(log_files: AuditSettings) -> None:
    tamper(
        log_files,
        ("DELETE FROM entries WHERE seq = 13", ()),
        ("UPDATE entries SET seq = seq - 1 WHERE seq > 13", ()),
    )
    problem = verify(log_files).first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (13, "deleted")


def test_swapped_entries_are_reported_as_reordered(log_files: AuditSettings) -> None:
    tamper(
        log_files,
        ("UPDATE entries SET seq = -1 WHERE seq = 13", ()),
        ("UPDATE entries SET seq = 13 WHERE seq = 14", ()),
        ("UPDATE entries SET seq = 14 WHERE seq = -1", ()),
    )
    report = verify(log_files)
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.decision_id, problem.kind) == (13, "d14", "reordered")
    assert (20, "root-mismatch") in bad_checkpoints(report)


def test_a_truncated_tail_below_a_checkpoint_is_reported(log_files: AuditSettings) -> None:
    tamper(log_files, ("DELETE FROM entries WHERE seq >= 25", ()))
    report = verify(log_files)
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (25, "truncated")
    assert "covers 40" in problem.detail
    assert bad_checkpoints(report) == [(30, "beyond-log"), (40, "beyond-log")]
    assert report.verified_checkpoints == 2


def test_a_forged_checkpoint_root_fails_its_signature(log_files: AuditSettings) -> None:
    with open_reader(log_files.path) as reader:
        stored = reader.checkpoints()[1]
    checkpoint, _, _ = parse_note(stored.note)
    forged_root = base64.b64encode(bytes(32)).decode()
    forged = stored.note.replace(base64.b64encode(checkpoint.root).decode(), forged_root)
    tamper(log_files, ("UPDATE checkpoints SET note = ? WHERE id = ?", (forged, stored.id)))
    report = verify(log_files)
    assert report.first_bad_entry is None
    assert bad_checkpoints(report) == [(20, "bad-signature")]


def test_a_checkpoint_signed_by_another_key_is_rejected(log_files: AuditSettings) -> None:
    attacker = Ed25519PrivateKey.generate()
    with open_reader(log_files.path) as reader:
        latest = reader.latest_checkpoint()
    assert latest is not None
    genuine, _, _ = parse_note(latest.note)
    forged = sign_checkpoint(Checkpoint(genuine.origin, SIZE, bytes(32), genuine.timestamp), attacker)
    tamper(
        log_files,
        ("UPDATE checkpoints SET note = ? WHERE id = ?", (forged, latest.id)),
        ("INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)", (SIZE, forged)),
    )
    report = verify(log_files)
    assert bad_checkpoints(report) == [(40, "unknown-key"), (40, "unknown-key")]
    assert "not signed by the trusted key" in report.bad_checkpoints[0].detail


def test_a_checkpoint_row_whose_size_disagrees_with_its_note_is_rejected(
    log_files: AuditSettings,
) -> None:
    tamper(log_files, ("UPDATE checkpoints SET tree_size = 15 WHERE tree_size = 20", ()))
    assert bad_checkpoints(verify(log_files)) == [(15, "row-mismatch")]


def test_checkpoints_for_another_origin_are_rejected_when_an_origin_is_required(
    log_files: AuditSettings,
) -> None:
    with open_reader(log_files.path) as reader:
        report = verify_log(reader, load_public_key(log_files.signing_key), origin="other-log")
    assert [p.kind for p in report.bad_checkpoints] == ["origin"] * 4


# Inclusion proofs ------------------------------------------------------------------


@pytest.fixture
def proof(log_files: AuditSettings) -> dict[str, Any]:
    with open_reader(log_files.path) as reader:
        (stored,) = reader.find("d13")
        return build_inclusion_proof(reader, stored, load_public_key(log_files.signing_key))


def test_a_proof_verifies_offline_against_the_pinned_key(
    log_files: AuditSettings, proof: dict[str, Any]
) -> None:
    key = load_public_key(log_files.signing_key)
    result = verify_proof(orjson.dumps(proof), key)
    assert (result.decision_id, result.entry.seq, result.checkpoint.tree_size) == ("d13", 13, SIZE)
    assert not result.key_embedded
    assert verify_proof(proof).key_embedded


@pytest.mark.parametrize("position", [0, 2, 5])
def test_a_proof_with_a_flipped_bit_fails(proof: dict[str, Any], position: int) -> None:
    modified = copy.deepcopy(proof)
    node = bytearray(bytes.fromhex(modified["audit_path"][position]))
    node[0] ^= 0x08
    modified["audit_path"][position] = node.hex()
    with pytest.raises(RootMismatchError):
        verify_proof(modified)


def test_a_proof_with_trailing_garbage_or_a_missing_hash_fails(proof: dict[str, Any]) -> None:
    longer = copy.deepcopy(proof)
    longer["audit_path"].append("00" * 32)
    with pytest.raises(ProofLengthError):
        verify_proof(longer)
    shorter = copy.deepcopy(proof)
    shorter["audit_path"].pop()
    with pytest.raises(ProofLengthError):
        verify_proof(shorter)


def test_a_proof_for_an_edited_entry_fails(proof: dict[str, Any]) -> None:
    edited = copy.deepcopy(proof)
    edited["entry"] = edited["entry"].replace('"ALLOW"', '"BLOCK"')
    del edited["leaf_hash"]
    with pytest.raises(RootMismatchError):
        verify_proof(edited)
    mismatched = copy.deepcopy(proof)
    mismatched["entry"] = mismatched["entry"].replace('"ALLOW"', '"BLOCK"')
    with pytest.raises(ProofError, match="leaf_hash"):
        verify_proof(mismatched)


def test_a_proof_moved_to_another_index_or_size_fails(proof: dict[str, Any]) -> None:
    moved = copy.deepcopy(proof)
    moved["leaf_index"] = 12
    with pytest.raises(ProofError, match="seq 13"):
        verify_proof(moved)
    beyond = copy.deepcopy(proof)
    beyond["leaf_index"] = SIZE
    with pytest.raises(IndexOutOfRangeError):
        verify_proof(beyond)
    resized = copy.deepcopy(proof)
    resized["tree_size"] = SIZE - 1
    with pytest.raises(VerificationError):
        verify_proof(resized)


def test_a_proof_re_signed_by_another_key_fails_against_the_pinned_key(
    log_files: AuditSettings, proof: dict[str, Any]
) -> None:
    attacker = Ed25519PrivateKey.generate()
    genuine, _, _ = parse_note(proof["checkpoint"])
    substituted = copy.deepcopy(proof)
    substituted["checkpoint"] = sign_checkpoint(genuine, attacker)
    substituted["public_key"] = public_key_pem(attacker.public_key())
    assert verify_proof(substituted).key_embedded  # consistent with itself only
    with pytest.raises(UnknownKeyError):
        verify_proof(substituted, load_public_key(log_files.signing_key))
    broken = copy.deepcopy(proof)
    broken["checkpoint"] = broken["checkpoint"].replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n", 1)
    with pytest.raises(SignatureError):
        verify_proof(broken)


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[]", b'{"type": "something-else"}', b'{"type": "atlasgate.inclusion-proof/v1"}'],
)
def test_malformed_proof_documents_fail_cleanly(document: bytes) -> None:
    with pytest.raises(ProofError):
        verify_proof(document)


def test_a_proof_whose_entry_is_not_canonical_fails(proof: dict[str, Any]) -> None:
    spaced = copy.deepcopy(proof)
    spaced["entry"] = spaced["entry"].replace('"seq":13', '"seq": 13')
    with pytest.raises(MalformedEntryError):
        verify_proof(spaced)


async def test_no_proof_is_issued_for_an_entry_no_checkpoint_covers_yet(tmp_path: Path) -> None:
    settings = AuditSettings(
        path=str(tmp_path / "d.db"), signing_key=str(tmp_path / "k.pem"), checkpoint_interval=3600
    )
    async with DecisionLog(settings) as log:
        await log.append({"decision_id": "a"})
        await log.checkpoint()
        await log.append({"decision_id": "b"})
        with open_reader(settings.path) as reader:
            (stored,) = reader.find("b")
            with pytest.raises(AuditError, match="not yet covered"):
                build_inclusion_proof(reader, stored, log.public_key)
            report = verify_log(reader, log.public_key)
            assert report.ok
            assert report.uncovered == 1
            (first,) = reader.find("a")
            assert build_inclusion_proof(reader, first, log.public_key)["tree_size"] == 1


def test_no_proof_is_issued_from_a_tampered_log(log_files: AuditSettings) -> None:
    tamper(log_files, ("UPDATE entries SET leaf_hash = ? WHERE seq = 12", (bytes(32),)))
    with open_reader(log_files.path) as reader:
        (stored,) = reader.find("d13")
        with pytest.raises(VerificationError, match="audit verify"):
            build_inclusion_proof(reader, stored, load_public_key(log_files.signing_key))


def test_values_of_the_wrong_type_are_reported_not_crashed_on(log_files: AuditSettings) -> None:
    tamper(
        log_files,
        ("UPDATE entries SET leaf_hash = 'not a hash' WHERE seq = 8", ()),
        ("UPDATE entries SET entry = 12345 WHERE seq = 9", ()),
    )
    problem = verify(log_files).first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.decision_id, problem.kind) == (8, "d8", "modified")


# --- witnessed checkpoints: kept outside the log ------------------------------------------


def latest_note(settings: AuditSettings) -> str:
    with open_reader(settings.path) as reader:
        latest = reader.latest_checkpoint()
    assert latest is not None
    return latest.note


def verify_with(settings: AuditSettings, *notes: str) -> VerificationReport:
    from atlasgate.audit.verify import Witness

    with open_reader(settings.path) as reader:
        return verify_log(reader, load_public_key(settings.signing_key),
                          witnesses=[Witness(f"saved-{i}.note", n) for i, n in enumerate(notes)])


def test_a_witnessed_checkpoint_of_an_untouched_log_verifies(log_files: AuditSettings) -> None:
    report = verify_with(log_files, latest_note(log_files))
    assert report.ok
    assert (report.checkpoints, report.witnessed, report.verified_checkpoints) == (4, 1, 5)


def test_a_tail_cut_together_with_its_checkpoints_is_caught_only_by_a_witness(
        log_files: AuditSettings) -> None:
    saved = latest_note(log_files)  # covers all 40 entries
    tamper(log_files, ("DELETE FROM entries WHERE seq >= 25", ()),
           ("DELETE FROM checkpoints WHERE tree_size > 20", ()))
    assert verify(log_files).ok  # the log alone is a consistent, shorter log
    report = verify_with(log_files, saved)
    problem = report.first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind) == (25, "truncated")
    assert "covers 40" in problem.detail
    assert [(p.witness, p.tree_size, p.kind) for p in report.bad_checkpoints] == [
        ("saved-0.note", 40, "beyond-log")]
    assert "witnessed checkpoint saved-0.note (size 40" in str(report.bad_checkpoints[0])


def test_history_rewritten_with_its_checkpoints_removed_fails_against_a_witness(
        log_files: AuditSettings) -> None:
    saved = latest_note(log_files)
    tamper(log_files, ("DELETE FROM checkpoints", ()))
    # Rewrite entry 5 and rebuild every later hash, as an attacker with the database could.
    with sqlite3.connect(log_files.path) as db:
        rows = db.execute("SELECT seq, entry FROM entries ORDER BY seq").fetchall()
        prev = b"\x00" * 32
        for seq, data in rows:
            entry = orjson.loads(data)
            if seq == 5:
                entry["record"]["action"] = "BLOCK"
            entry["prev"] = prev.hex() if seq else entry["prev"]
            raw = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
            prev = leaf_hash(raw)
            db.execute("UPDATE entries SET entry = ?, leaf_hash = ? WHERE seq = ?", (raw, prev, seq))
    assert verify(log_files).ok
    report = verify_with(log_files, saved)
    assert not report.ok
    assert [(p.tree_size, p.kind) for p in report.bad_checkpoints] == [(40, "root-mismatch")]


def test_a_witness_signed_by_another_key_or_garbled_is_reported_with_its_source(
        log_files: AuditSettings) -> None:
    other = Ed25519PrivateKey.generate()
    checkpoint, _, _ = parse_note(latest_note(log_files))
    report = verify_with(log_files, sign_checkpoint(checkpoint, other), "not a checkpoint\n")
    assert not report.ok
    assert [(p.witness, p.kind) for p in report.bad_checkpoints] == [
        ("saved-0.note", "unknown-key"), ("saved-1.note", "malformed")]
