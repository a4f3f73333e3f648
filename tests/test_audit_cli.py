"""``atlasgate audit``: verify, proof, verify-proof, tail, export, public-key."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atlasgate.audit import AuditSettings, DecisionLog
from atlasgate.audit.checkpoint import parse_note, public_key_pem
from atlasgate.audit.merkle import leaf_hash, root_of
from atlasgate.cli.audit import _fallback_settings, audit
from atlasgate.errors import ConfigError

COUNT = 25


def write_log(settings: AuditSettings, count: int = COUNT, start: int = 0) -> None:
    async def build() -> None:
        async with DecisionLog(settings) as log:
            for i in range(start, start + count):
                action = "BLOCK" if i % 5 == 0 else "ALLOW"
                await log.append({"decision_id": f"d{i}", "action": action, "i": i})

    asyncio.run(build())


@pytest.fixture
def logged(tmp_path: Path) -> AuditSettings:
    settings = AuditSettings(
        path=str(tmp_path / "data" / "decisions.db"),
        signing_key=str(tmp_path / "data" / "signing-key.pem"),
    )
    write_log(settings)
    return settings


def run(settings: AuditSettings | None, *args: str, stdin: str | None = None) -> Any:
    prefix = ["--db", settings.path] if settings else []
    result = CliRunner().invoke(audit, [*prefix, *args], input=stdin)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception
    )
    return result


def key_args(settings: AuditSettings) -> list[str]:
    return ["--key", settings.signing_key]


def edit_entry(settings: AuditSettings, seq: int) -> None:
    with sqlite3.connect(settings.path) as db:
        db.execute("DROP TRIGGER entries_no_update")
        db.execute(
            "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), 'ALLOW', 'BLOCK') "
            "AS BLOB) WHERE seq = ?",
            (seq,),
        )


def test_verify_reports_an_intact_log(logged: AuditSettings) -> None:
    result = run(logged, "verify", *key_args(logged))
    assert result.exit_code == 0, result.output
    assert f"{COUNT} entries, 1 checkpoints" in result.output
    assert "OK: hash chain and tree intact" in result.output


def test_verify_names_the_first_modified_entry_and_exits_1(logged: AuditSettings) -> None:
    edit_entry(logged, 7)
    result = run(logged, "verify", *key_args(logged))
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "entry 7 (decision d7): modified" in result.output
    assert "root-mismatch" in result.output


def test_verify_json_report(logged: AuditSettings) -> None:
    edit_entry(logged, 3)
    result = run(logged, "verify", "--json", *key_args(logged))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["first_bad_entry"]["seq"] == 3
    assert report["first_bad_entry"]["kind"] == "modified"
    assert report["entries"] == COUNT


def test_verify_against_another_public_key_fails(logged: AuditSettings, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    result = run(logged, "verify", "--public-key", str(other))
    assert result.exit_code == 1
    assert "unknown-key" in result.output


def test_usage_and_io_problems_exit_2_with_a_message(logged: AuditSettings, tmp_path: Path) -> None:
    missing_db = CliRunner().invoke(audit, ["--db", str(tmp_path / "none.db"), "verify", *key_args(logged)])
    assert missing_db.exit_code == 2
    assert "no decision log here" in missing_db.output
    no_key = run(logged, "verify", "--key", str(tmp_path / "absent.pem"))
    assert no_key.exit_code == 2
    assert "cannot read key" in no_key.output
    not_a_log = tmp_path / "not-a-log.db"
    sqlite3.connect(not_a_log).close()
    wrong = CliRunner().invoke(audit, ["--db", str(not_a_log), "tail"])
    assert wrong.exit_code == 2
    assert "not an AtlasGate decision log" in wrong.output
    assert "Traceback" not in missing_db.output + no_key.output + wrong.output


def test_proof_and_offline_verification_round_trip(logged: AuditSettings, tmp_path: Path) -> None:
    proof_file = tmp_path / "d10.json"
    made = run(logged, "proof", "d10", "-o", str(proof_file), *key_args(logged))
    assert made.exit_code == 0, made.output
    proof = json.loads(proof_file.read_text())
    assert proof["leaf_index"] == 10
    assert proof["tree_size"] == COUNT
    assert json.loads(proof["entry"])["record"]["decision_id"] == "d10"
    assert "BEGIN PUBLIC KEY" in proof["public_key"]
    pub = tmp_path / "log.pub"
    assert run(logged, "public-key", "-o", str(pub), *key_args(logged)).exit_code == 0

    # Offline: no database, only the proof and the published key.
    checked = CliRunner().invoke(audit, ["verify-proof", str(proof_file), "--public-key", str(pub)])
    assert checked.exit_code == 0, checked.output
    assert "OK: decision d10 is entry 10" in checked.output

    embedded = CliRunner().invoke(audit, ["verify-proof", "-"], input=proof_file.read_text())
    assert embedded.exit_code == 0
    assert "public key inside the proof" in embedded.output


def test_proof_printed_to_stdout_is_the_same_document(logged: AuditSettings) -> None:
    result = run(logged, "proof", "d4", *key_args(logged))
    assert result.exit_code == 0
    assert json.loads(result.output)["leaf_index"] == 4


def test_a_modified_proof_fails_verification_with_exit_1(logged: AuditSettings, tmp_path: Path) -> None:
    proof = json.loads(run(logged, "proof", "d10", *key_args(logged)).output)
    first = bytearray(bytes.fromhex(proof["audit_path"][0]))
    first[0] ^= 1
    proof["audit_path"][0] = first.hex()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(proof))
    result = CliRunner().invoke(audit, ["verify-proof", str(bad)])
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "does not match" in result.output


def test_a_proof_checked_against_a_different_key_fails(logged: AuditSettings, tmp_path: Path) -> None:
    proof = tmp_path / "p.json"
    proof.write_text(run(logged, "proof", "d1", *key_args(logged)).output)
    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    result = CliRunner().invoke(audit, ["verify-proof", str(proof), "--public-key", str(other)])
    assert result.exit_code == 1
    assert "not signed by the trusted key" in result.output


def test_proof_for_an_unknown_or_repeated_decision_is_a_usage_error(
    logged: AuditSettings,
) -> None:
    unknown = run(logged, "proof", "nope", *key_args(logged))
    assert unknown.exit_code == 2
    assert "'nope' is not in" in unknown.output
    write_log(logged, count=1, start=3)  # d3 logged a second time
    repeated = run(logged, "proof", "d3", *key_args(logged))
    assert repeated.exit_code == 2
    assert "entries 3, 25" in repeated.output
    chosen = run(logged, "proof", "d3", "--seq", "25", *key_args(logged))
    assert chosen.exit_code == 0
    assert json.loads(chosen.output)["leaf_index"] == 25


def test_tail_prints_the_last_entries_exactly_as_stored(logged: AuditSettings) -> None:
    result = run(logged, "tail", "-n", "3")
    assert result.exit_code == 0
    lines = result.stdout_bytes.splitlines()
    with sqlite3.connect(logged.path) as db:
        stored = [bytes(r[0]) for r in db.execute("SELECT entry FROM entries ORDER BY seq")]
    assert lines == stored[-3:]
    assert [orjson.loads(line)["seq"] for line in lines] == [22, 23, 24]


def test_export_jsonl_lets_a_third_party_recompute_the_signed_root(
    logged: AuditSettings, tmp_path: Path
) -> None:
    out = tmp_path / "export.jsonl"
    result = run(logged, "export", "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 0
    assert f"exported {COUNT} entries" in result.output
    lines = out.read_bytes().splitlines()
    assert len(lines) == COUNT
    with sqlite3.connect(logged.path) as db:
        note = db.execute("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()[0]
    checkpoint, _, _ = parse_note(note)
    assert root_of([leaf_hash(line) for line in lines]) == checkpoint.root
    to_stdout = run(logged, "export")
    assert to_stdout.stdout_bytes.splitlines() == lines


def test_export_rejects_unknown_formats(logged: AuditSettings) -> None:
    result = run(logged, "export", "--format", "csv")
    assert result.exit_code == 2


def test_public_key_matches_the_signing_key(logged: AuditSettings) -> None:
    from atlasgate.audit.checkpoint import load_signing_key

    result = run(logged, "public-key", *key_args(logged))
    assert result.exit_code == 0
    assert result.output == public_key_pem(load_signing_key(logged.signing_key).public_key())


def test_config_file_locates_the_log_relative_to_itself(logged: AuditSettings, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("audit:\n  path: data/decisions.db\n  signing_key: data/signing-key.pem\n")
    result = CliRunner().invoke(audit, ["--config", str(config), "verify"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    settings = _fallback_settings(config)
    assert Path(settings.path) == Path(logged.path)
    assert Path(settings.signing_key) == Path(logged.signing_key)


def test_a_bad_config_is_reported_with_its_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("audit:\n  sync: sometimes\n")
    result = CliRunner().invoke(audit, ["--config", str(config), "verify"])
    assert result.exit_code == 2
    assert "gateway.yaml" in result.output
    assert "sync" in result.output
    expected = r"gateway\.yaml:2: audit\.sync: Input should be 'normal' or 'full'"
    with pytest.raises(ConfigError, match=expected):
        _fallback_settings(config)
    config.write_text("audit: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"gateway\.yaml:1: the audit section must be a mapping"):
        _fallback_settings(config)


def atlasgate_command() -> list[str]:
    found = shutil.which("atlasgate")
    return [found] if found else [sys.executable, "-m", "atlasgate.cli.main"]


def test_the_installed_command_verifies_and_fails_with_exit_codes(logged: AuditSettings) -> None:
    command = [*atlasgate_command(), "audit", "--db", logged.path, "verify", *key_args(logged)]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "OK: hash chain and tree intact" in ok.stdout
    edit_entry(logged, 11)
    failed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert "entry 11 (decision d11): modified" in failed.stdout
    assert "Traceback" not in failed.stderr


def test_tail_follow_prints_entries_as_the_gateway_writes_them(logged: AuditSettings) -> None:
    command = [
        *atlasgate_command(),
        "audit",
        "--db",
        logged.path,
        "tail",
        "-n",
        "1",
        "--follow",
        "--interval",
        "0.05",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        first = orjson.loads(process.stdout.readline())
        assert first["seq"] == COUNT - 1
        time.sleep(0.2)
        write_log(logged, count=3, start=100)
        seen = [orjson.loads(process.stdout.readline())["record"]["decision_id"] for _ in range(3)]
        assert seen == ["d100", "d101", "d102"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_checkpoint_saved_outside_catches_a_tail_cut_with_its_checkpoints(
        logged: AuditSettings, tmp_path: Path) -> None:
    saved = tmp_path / "witness" / "latest.note"
    saved.parent.mkdir()
    result = run(logged, "checkpoint", "-o", str(saved), *key_args(logged))
    assert result.exit_code == 0, result.output
    assert f"checkpoint of {COUNT} entries" in result.output
    printed = run(logged, "checkpoint", *key_args(logged)).output
    assert printed == saved.read_text(encoding="utf-8")
    assert parse_note(printed)[0].tree_size == COUNT

    ok = run(logged, "verify", "--checkpoint", str(saved), *key_args(logged))
    assert ok.exit_code == 0, ok.output
    assert "1 checkpoints and 1 witnessed" in ok.output
    assert "2 of 2 checkpoints verified" in ok.output

    with sqlite3.connect(logged.path) as db:
        db.execute("DROP TRIGGER entries_no_delete")
        db.execute("DROP TRIGGER checkpoints_no_delete")
        db.execute("DELETE FROM entries WHERE seq >= 20")
        db.execute("DELETE FROM checkpoints")
    assert run(logged, "verify", *key_args(logged)).exit_code == 0  # alone, it looks whole
    cut = run(logged, "verify", "--checkpoint", str(saved), "--json", *key_args(logged))
    assert cut.exit_code == 1
    report = json.loads(cut.output)
    assert report["first_bad_entry"]["kind"] == "truncated"
    assert report["first_bad_entry"]["seq"] == 20
    assert report["bad_checkpoints"][0]["witness"] == str(saved)


def test_checkpoint_of_a_log_without_one_or_with_a_forged_one_is_refused(
        logged: AuditSettings, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    forged = run(logged, "checkpoint", "--public-key", str(other))
    assert forged.exit_code == 1
    assert "does not verify" in forged.output

    with sqlite3.connect(logged.path) as db:
        db.execute("DROP TRIGGER checkpoints_no_delete")
        db.execute("DELETE FROM checkpoints")
    empty = run(logged, "checkpoint", *key_args(logged))
    assert empty.exit_code == 2
    assert "no signed checkpoint yet" in empty.output
