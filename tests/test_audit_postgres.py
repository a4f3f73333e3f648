"""The decision log on PostgreSQL: one verifiable log shared by several writers.

Runs against the real server at 127.0.0.1:5432, database ``test`` (override with
ATLASGATE_TEST_POSTGRES_DSN). Every test writes to tables with its own prefix and drops
them afterwards. Without a reachable server the tests skip, except under CI=true, where
they fail.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from atlasgate.audit import AuditSettings, DecisionLog, open_log_reader, verify_log, verify_proof
from atlasgate.audit.checkpoint import Checkpoint, load_public_key, parse_note, sign_checkpoint
from atlasgate.audit.encoding import assemble_entry, canonical, decode_entry
from atlasgate.audit.errors import AuditError
from atlasgate.audit.merkle import leaf_hash
from atlasgate.audit.proof import build_inclusion_proof
from atlasgate.audit.stores import open_postgres_store
from atlasgate.audit.verify import VerificationReport
from atlasgate.cli.audit import audit
from gateway_harness import http
from process_output import Acknowledgements

try:
    import psycopg
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("psycopg is not installed (pip install 'atlasgate[postgres]')", allow_module_level=True)

DSN = os.environ.get("ATLASGATE_TEST_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")
SIZE = 40


@pytest.fixture(scope="session")
def dsn() -> str:
    try:
        with psycopg.connect(DSN, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {DSN} is unreachable ({' '.join(str(exc).split())})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the real server")
        pytest.skip(reason)
    return DSN


def drop_log(dsn: str, prefix: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)", (prefix,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        functions = conn.execute(
            "SELECT proname FROM pg_proc WHERE starts_with(proname, %s)", (prefix,)
        ).fetchall()
        for (function,) in functions:
            conn.execute(f'DROP FUNCTION IF EXISTS "{function}"()')


@pytest.fixture
def prefix(dsn: str) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}_"
    yield name
    drop_log(dsn, name)


@pytest.fixture
def settings(dsn: str, prefix: str, tmp_path: Path) -> AuditSettings:
    return AuditSettings(
        store="postgresql",
        dsn=dsn,
        table_prefix=prefix,
        signing_key=str(tmp_path / "key.pem"),
        checkpoint_every=10,
        checkpoint_interval=3600,
    )


def write(settings: AuditSettings, count: int = SIZE, start: int = 0) -> list[int]:
    async def build() -> list[int]:
        async with DecisionLog(settings) as log:
            return [
                (await log.append({"decision_id": f"d{i}", "action": "ALLOW", "n": i})).seq
                for i in range(start, start + count)
            ]

    return asyncio.run(build())


def verify(settings: AuditSettings) -> VerificationReport:
    with open_log_reader(settings) as reader:
        return verify_log(reader, load_public_key(settings.signing_key), origin=settings.origin)


@pytest.fixture
def logged(settings: AuditSettings) -> AuditSettings:
    """A closed log of 40 entries with checkpoints at sizes 10, 20, 30 and 40."""
    write(settings)
    return settings


def tamper(settings: AuditSettings, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Edit the tables as their owner would, switching the append-only triggers off first."""
    p = settings.table_prefix
    with psycopg.connect(settings.dsn, autocommit=True) as conn, conn.transaction():
        for table in ("entries", "checkpoints", "tree_head"):
            conn.execute(f"ALTER TABLE {p}{table} DISABLE TRIGGER USER")
        for sql, params in statements:
            conn.execute(sql.replace("{p}", p), params)
        for table in ("entries", "checkpoints", "tree_head"):
            conn.execute(f"ALTER TABLE {p}{table} ENABLE TRIGGER USER")


def stored_entry(settings: AuditSettings, seq: int) -> bytes:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute(
            f"SELECT entry FROM {settings.table_prefix}entries WHERE seq = %s", (seq,)
        ).fetchone()
    return bytes(row[0])


# --- settings ---------------------------------------------------------------------------


def test_postgresql_settings_need_a_dsn_and_a_safe_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="needs dsn or dsn_env"):
        AuditSettings(store="postgresql")
    with pytest.raises(ValidationError, match="table_prefix"):
        AuditSettings(store="postgresql", dsn="postgresql://h/db", table_prefix="x; DROP TABLE y")
    settings = AuditSettings(store="postgresql", dsn="postgresql://h/a", dsn_env="AUDIT_TEST_DSN")
    monkeypatch.delenv("AUDIT_TEST_DSN", raising=False)
    assert settings.resolved_dsn() == "postgresql://h/a"
    monkeypatch.setenv("AUDIT_TEST_DSN", "postgresql://h/b")
    assert settings.resolved_dsn() == "postgresql://h/b"
    only_env = AuditSettings(store="postgresql", dsn_env="AUDIT_TEST_MISSING")
    with pytest.raises(AuditError, match=r"AUDIT_TEST_MISSING.*not set"):
        only_env.resolved_dsn()


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    settings = AuditSettings(
        store="postgresql",
        dsn="postgresql://auditor:s3cret-pw@127.0.0.1:1/nowhere",
        signing_key=str(tmp_path / "key.pem"),
    )

    async def open_log() -> None:
        await DecisionLog.open(settings)

    with pytest.raises(AuditError, match="cannot connect") as caught:
        asyncio.run(open_log())
    assert "postgresql://auditor@127.0.0.1:1/nowhere" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# --- writing and reading ----------------------------------------------------------------


def test_entries_verify_prove_and_a_restarted_writer_continues(logged: AuditSettings) -> None:
    report = verify(logged)
    assert report.ok, report.as_dict()
    assert (report.entries, report.verified_checkpoints, report.uncovered) == (SIZE, 4, 0)

    assert write(logged, 5, start=SIZE) == list(range(SIZE, SIZE + 5))
    report = verify(logged)
    assert report.ok
    assert report.entries == SIZE + 5
    assert report.uncovered == 0

    key = load_public_key(logged.signing_key)
    with open_log_reader(logged) as reader:
        [stored] = reader.find("d17")
        assert stored.seq == 17
        assert decode_entry(stored.data).record == {"decision_id": "d17", "action": "ALLOW", "n": 17}
        proof = build_inclusion_proof(reader, stored, key)
    assert verify_proof(orjson.dumps(proof), key).entry.seq == 17


def test_the_tables_are_append_only(logged: AuditSettings) -> None:
    p = logged.table_prefix
    refused = [
        f"UPDATE {p}entries SET decision_id = 'x' WHERE seq = 3",
        f"DELETE FROM {p}entries WHERE seq = 39",
        f"TRUNCATE {p}entries",
        f"UPDATE {p}checkpoints SET tree_size = 1",
        f"DELETE FROM {p}checkpoints",
        f"TRUNCATE {p}checkpoints",
        f"DELETE FROM {p}signer",
        f"UPDATE {p}tree_head SET size = 3",
        f"DELETE FROM {p}tree_head",
    ]
    with psycopg.connect(logged.dsn, autocommit=True) as conn:
        for sql in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"append-only|only moves forward"):
                conn.execute(sql)
    assert verify(logged).ok


def test_a_reader_cannot_write(logged: AuditSettings) -> None:
    store = open_postgres_store(logged.dsn or "", logged.table_prefix, readonly=True)
    try:
        with pytest.raises(AuditError, match="cannot write checkpoint"):
            store.append_checkpoint(1, "x")
    finally:
        store.close()


def test_a_second_signing_key_is_refused(logged: AuditSettings, tmp_path: Path) -> None:
    other = logged.model_copy(update={"signing_key": str(tmp_path / "other.pem")})
    with pytest.raises(AuditError, match="must share the same signing key"):
        write(other, 1)
    assert verify(logged).entries == SIZE


def test_a_missing_log_is_reported(dsn: str, prefix: str) -> None:
    settings = AuditSettings(store="postgresql", dsn=dsn, table_prefix=prefix)
    with pytest.raises(AuditError, match="no decision log here"):
        open_log_reader(settings)


# --- tampering ----------------------------------------------------------------------------


def test_an_edited_entry_is_named(logged: AuditSettings) -> None:
    data = stored_entry(logged, 17).replace(b'"ALLOW"', b'"BLOCK"')
    tamper(logged, ("UPDATE {p}entries SET entry = %s WHERE seq = 17", (data,)))
    problem = verify(logged).first_bad_entry
    assert problem is not None
    assert (problem.seq, problem.kind, problem.decision_id) == (17, "modified", "d17")


def test_a_deleted_entry_is_named(logged: AuditSettings) -> None:
    tamper(logged, ("DELETE FROM {p}entries WHERE seq = 23", ()))
    report = verify(logged)
    assert report.first_bad_entry is not None
    assert (report.first_bad_entry.seq, report.first_bad_entry.kind) == (23, "deleted")


def test_reordered_entries_are_named(logged: AuditSettings) -> None:
    tamper(
        logged,
        ("UPDATE {p}entries SET seq = seq + 1000000 WHERE seq IN (12, 13)", ()),
        ("UPDATE {p}entries SET seq = 13 WHERE seq = 1000012", ()),
        ("UPDATE {p}entries SET seq = 12 WHERE seq = 1000013", ()),
    )
    report = verify(logged)
    assert report.first_bad_entry is not None
    assert (report.first_bad_entry.seq, report.first_bad_entry.kind) == (12, "reordered")


def test_truncation_below_a_checkpoint_is_detected(logged: AuditSettings) -> None:
    tamper(logged, ("DELETE FROM {p}entries WHERE seq >= 25", ()))
    report = verify(logged)
    assert report.first_bad_entry is not None
    assert (report.first_bad_entry.seq, report.first_bad_entry.kind) == (25, "truncated")
    assert sorted(p.tree_size for p in report.bad_checkpoints if p.kind == "beyond-log") == [30, 40]


def test_a_consistently_rewritten_chain_fails_the_signed_checkpoints(logged: AuditSettings) -> None:
    statements = []
    prev = leaf_hash(stored_entry(logged, 14))
    for seq in range(15, SIZE):
        entry = decode_entry(stored_entry(logged, seq))
        record = dict(entry.record, action="BLOCK") if seq == 15 else entry.record
        data = assemble_entry(seq, prev.hex(), entry.logged_at, canonical(record))
        prev = leaf_hash(data)
        statements.append(
            ("UPDATE {p}entries SET entry = %s, leaf_hash = %s WHERE seq = %s", (data, prev, seq))
        )
    tamper(logged, *statements)
    report = verify(logged)
    assert {(p.tree_size, p.kind) for p in report.bad_checkpoints} == {
        (20, "root-mismatch"),
        (30, "root-mismatch"),
        (40, "root-mismatch"),
    }
    assert report.first_bad_entry is not None
    assert (report.first_bad_entry.seq, report.first_bad_entry.kind) == (10, "modified")


def test_forged_checkpoints_are_rejected(logged: AuditSettings) -> None:
    with open_log_reader(logged) as reader:
        genuine = reader.latest_checkpoint()
    assert genuine is not None
    checkpoint, _, _ = parse_note(genuine.note)
    bigger = Checkpoint(checkpoint.origin, 60, checkpoint.root, checkpoint.timestamp)
    foreign = sign_checkpoint(bigger, Ed25519PrivateKey.generate())
    body, _, signature = genuine.note.partition("\n\n")
    lines = body.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    altered = "\n".join(lines) + "\n\n" + signature
    tamper(
        logged,
        ("INSERT INTO {p}checkpoints (tree_size, note) VALUES (%s, %s)", (60, foreign)),
        ("INSERT INTO {p}checkpoints (tree_size, note) VALUES (%s, %s)", (40, altered)),
    )
    report = verify(logged)
    assert not report.ok
    assert sorted(p.kind for p in report.bad_checkpoints) == ["bad-signature", "unknown-key"]
    assert report.latest_verified is not None
    assert report.latest_verified.tree_size == SIZE


def test_a_lost_connection_fails_one_batch_and_the_next_reconnects(settings: AuditSettings) -> None:
    async def run() -> list[int | str]:
        outcomes: list[int | str] = []
        async with DecisionLog(settings) as log:
            for i in range(3):
                outcomes.append((await log.append({"decision_id": f"before-{i}"})).seq)
            with psycopg.connect(settings.dsn, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (f"atlasgate-audit {settings.table_prefix}",),
                ).fetchall()
            assert killed == [(True,)]
            for i in range(3):
                try:
                    outcomes.append((await log.append({"decision_id": f"after-{i}"})).seq)
                except AuditError as exc:
                    outcomes.append(str(exc))
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes[:3] == [0, 1, 2]
    failed = [o for o in outcomes[3:] if isinstance(o, str)]
    assert len(failed) <= 1
    assert all("cannot write decision log" in o for o in failed)
    assert [o for o in outcomes[3:] if isinstance(o, int)] == list(range(3, 6 - len(failed)))
    report = verify(settings)
    assert report.ok, report.as_dict()
    assert report.uncovered == 0


def test_a_writer_signs_the_tree_of_the_entries_not_an_altered_tree_head(
    logged: AuditSettings, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        first = await DecisionLog.open(logged)
        second = await DecisionLog.open(logged)
        await first.append({"decision_id": "first"})
        await second.append({"decision_id": "second"})
        with psycopg.connect(logged.dsn, autocommit=True) as conn:
            conn.execute(
                f"UPDATE {logged.table_prefix}tree_head SET nodes = %s",
                (bytes(32 * (SIZE + 2).bit_count()),),
            )
        await first.append({"decision_id": "first-again"})
        await first.close()
        await second.close()

    asyncio.run(run())
    assert "disagrees with the stored entries" in caplog.text
    report = verify(logged)
    assert report.ok, report.as_dict()
    assert (report.entries, report.uncovered) == (SIZE + 3, 0)


# --- several writers ----------------------------------------------------------------------


def test_two_gateway_replicas_log_to_one_verifiable_log(
    dsn: str, prefix: str, make_gateway: Any, tmp_path: Path
) -> None:
    replicas = [
        make_gateway(audit={"store": "postgresql", "dsn": dsn, "table_prefix": prefix}) for _ in range(2)
    ]
    body = orjson.dumps({"model": "sample-chat", "messages": [{"role": "user", "content": "hello"}]})
    for i in range(6):
        reply = http("POST", replicas[i % 2].url + "/v1/chat/completions", body)
        assert reply.status == 200, reply.body
    for replica in replicas:
        replica.stop()
    served = {entry["decision_id"] for replica in replicas for entry in replica.entries}
    assert len(served) >= 6
    settings = AuditSettings(
        store="postgresql",
        dsn=dsn,
        table_prefix=prefix,
        signing_key=str(tmp_path / "signing-key.pem"),
    )
    with open_log_reader(settings) as reader:
        logged = {entry.decision_id for entry in reader.entries()}
    assert served <= logged
    report = verify(settings)
    assert report.ok, report.as_dict()
    assert report.uncovered == 0


def test_two_logs_on_separate_connections_append_to_one_log(settings: AuditSettings) -> None:
    async def run() -> dict[str, int]:
        first = await DecisionLog.open(settings)
        second = await DecisionLog.open(settings)
        receipts: dict[str, int] = {}

        async def client(log: DecisionLog, name: str) -> None:
            for i in range(25):
                receipt = await log.append({"decision_id": f"{name}-{i}"})
                receipts[f"{name}-{i}"] = receipt.seq

        await asyncio.gather(
            *(client(first, f"a{c}") for c in range(16)),
            *(client(second, f"b{c}") for c in range(16)),
        )
        await first.close()
        await second.close()
        return receipts

    receipts = asyncio.run(run())
    assert sorted(receipts.values()) == list(range(800))
    with open_log_reader(settings) as reader:
        stored = [(e.seq, e.decision_id) for e in reader.entries()]
    assert stored == sorted((seq, name) for name, seq in receipts.items())
    writers = [name[0] for _, name in stored]
    assert sum(a != b for a, b in itertools.pairwise(writers)) >= 2
    report = verify(settings)
    assert report.ok, report.as_dict()
    assert report.entries == 800
    assert report.uncovered == 0


WRITER = textwrap.dedent(
    """
    import asyncio, signal, sys
    from atlasgate.audit import AuditSettings, DecisionLog

    async def main(dsn, prefix, key, name):
        settings = AuditSettings(store="postgresql", dsn=dsn, table_prefix=prefix,
                                 signing_key=key, checkpoint_every=250,
                                 checkpoint_interval=0.2)
        log = await DecisionLog.open(settings)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        started = 0

        async def client(c):
            nonlocal started
            i = 0
            while not stop.is_set():
                started += 1
                receipt = await log.append({"decision_id": f"{name}{c}-{i}", "n": i})
                sys.stdout.write(f"{receipt.seq} {name}{c}-{i}\\n")
                sys.stdout.flush()
                i += 1

        clients = [asyncio.create_task(client(c)) for c in range(16)]
        await stop.wait()
        await asyncio.gather(*clients)
        await log.close()
        sys.stdout.write(f"started {started}\\n")
        sys.stdout.flush()

    asyncio.run(main(*sys.argv[1:5]))
    """
)


class Writer:
    """A writer process appending under load; its acknowledgements are read on a thread."""

    def __init__(self, settings: AuditSettings, tmp_path: Path, name: str) -> None:
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                settings.dsn or "",
                settings.table_prefix,
                settings.signing_key,
                name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output = Acknowledgements(self.process)

    def wait_for(self, count: int) -> None:
        self.output.wait_for(count)

    def finish(self) -> dict[int, str]:
        acknowledged = {}
        for line in self.output.finish():
            if line.endswith("\n") and not line.startswith("started"):
                seq, decision_id = line.split()
                acknowledged[int(seq)] = decision_id
        return acknowledged

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()


def check_shared_log(settings: AuditSettings, *acknowledged: dict[int, str]) -> VerificationReport:
    with open_log_reader(settings) as reader:
        stored = {e.seq: e.decision_id for e in reader.entries()}
    assert sorted(stored) == list(range(len(stored)))
    for acks in acknowledged:
        lost = {seq: d for seq, d in acks.items() if stored.get(seq) != d}
        assert not lost, f"acknowledged decisions lost: {sorted(lost.items())[:10]}"
    report = verify(settings)
    assert report.ok, [str(p) for p in report.bad_checkpoints] + [str(report.first_bad_entry)]
    return report


def _seed(settings: AuditSettings) -> None:
    """Create the tables and the signing key once, before the writer processes race."""
    write(settings, 1)


def test_two_writer_processes_append_one_contiguous_log(settings: AuditSettings, tmp_path: Path) -> None:
    _seed(settings)
    writers = [Writer(settings, tmp_path, name) for name in ("a", "b")]
    try:
        for writer in writers:
            writer.wait_for(800)
        for writer in writers:
            writer.process.send_signal(signal.SIGTERM)
        acknowledged = [writer.finish() for writer in writers]
    finally:
        for writer in writers:
            writer.stop()
    for writer in writers:
        assert writer.process.returncode == 0, writer.stderr()
    assert all(len(acks) >= 800 for acks in acknowledged)
    assert not set(acknowledged[0]) & set(acknowledged[1])
    report = check_shared_log(settings, *acknowledged)
    assert report.entries == 1 + len(acknowledged[0]) + len(acknowledged[1])
    assert report.uncovered == 0
    order = [acknowledged[0].get(seq, "b")[0] for seq in range(1, report.entries)]
    assert sum(x != y for x, y in itertools.pairwise(order)) >= 2


def test_kill_9_of_a_writer_under_load_loses_no_acknowledged_decision(
    settings: AuditSettings, tmp_path: Path
) -> None:
    _seed(settings)
    victim = Writer(settings, tmp_path, "a")
    survivor = Writer(settings, tmp_path, "b")
    try:
        victim.wait_for(1500)
        survivor.wait_for(300)
        os.kill(victim.process.pid, signal.SIGKILL)
        killed = victim.finish()
        already = len(survivor.output.lines)
        survivor.wait_for(already + 500)
        survivor.process.send_signal(signal.SIGTERM)
        survived = survivor.finish()
    finally:
        victim.stop()
        survivor.stop()
    assert victim.process.returncode == -signal.SIGKILL
    assert survivor.process.returncode == 0, survivor.stderr()
    assert len(killed) >= 1500
    report = check_shared_log(settings, killed, survived)
    assert max(survived) > max(killed)

    # The killed replica restarts and carries on at the end of the shared log.
    assert write(settings, 1, start=10_000) == [report.entries]
    final = check_shared_log(settings, killed, survived)
    assert (final.entries, final.uncovered) == (report.entries + 1, 0)


# --- the command line ---------------------------------------------------------------------


def cli(settings: AuditSettings, *args: str) -> Any:
    location = ["--dsn", settings.dsn or "", "--table-prefix", settings.table_prefix]
    return CliRunner().invoke(audit, [*location, *args])


def test_cli_verify_proof_tail_and_export(logged: AuditSettings, tmp_path: Path) -> None:
    key = ["--key", logged.signing_key]
    result = cli(logged, "verify", *key)
    assert result.exit_code == 0, result.output
    assert "40 entries, 4 checkpoints" in result.output
    assert f"(tables {logged.table_prefix}*)" in result.output
    assert "OK: hash chain and tree intact" in result.output

    proof_file = tmp_path / "proof.json"
    result = cli(logged, "proof", "d7", "-o", str(proof_file), *key)
    assert result.exit_code == 0, result.output

    result = CliRunner().invoke(audit, ["verify-proof", str(proof_file), *key])
    assert result.exit_code == 0
    assert "is entry 7" in result.output

    result = cli(logged, "tail", "-n", "3")
    assert [orjson.loads(line)["seq"] for line in result.stdout_bytes.splitlines()] == [37, 38, 39]

    exported = tmp_path / "export.jsonl"
    assert cli(logged, "export", "-o", str(exported)).exit_code == 0
    lines = exported.read_bytes().splitlines()
    assert lines == [stored_entry(logged, seq) for seq in range(SIZE)]

    tamper(logged, ("DELETE FROM {p}entries WHERE seq = 5", ()))
    result = cli(logged, "verify", *key, "--json")
    assert result.exit_code == 1
    assert orjson.loads(result.output)["first_bad_entry"]["kind"] == "deleted"


def test_cli_reads_the_log_named_by_the_configuration(
    logged: AuditSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "audit:\n"
        "  store: postgresql\n"
        "  dsn_env: AUDIT_TEST_DSN\n"
        f"  table_prefix: {logged.table_prefix}\n"
        f"  signing_key: {logged.signing_key}\n"
    )
    monkeypatch.setenv("AUDIT_TEST_DSN", logged.dsn or "")
    result = CliRunner().invoke(audit, ["--config", str(config), "verify"])
    assert result.exit_code == 0, result.output
    assert "40 entries" in result.output

    result = CliRunner().invoke(
        audit, ["--dsn", "postgresql://127.0.0.1:1/x", "verify", "--key", logged.signing_key]
    )
    assert result.exit_code == 2
    assert "cannot connect" in result.output
    assert "Traceback" not in result.output

    both = ["--db", "x.db", "--dsn", logged.dsn or "", "verify"]
    result = CliRunner().invoke(audit, both)
    assert result.exit_code == 2
    assert "either --db" in result.output
