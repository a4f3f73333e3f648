"""DecisionLog: group-committed, durable appends that resume the same tree."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from atlasgate.audit import AuditSettings, DecisionLog, open_reader, sqlite_store, verify_log
from atlasgate.audit.checkpoint import load_public_key, open_checkpoint
from atlasgate.audit.errors import AuditError, EncodingError, LogClosedError
from atlasgate.audit.merkle import leaf_hash, root_of


def make_settings(tmp_path: Path, **overrides: Any) -> AuditSettings:
    values: dict[str, Any] = {
        "path": str(tmp_path / "decisions.db"),
        "signing_key": str(tmp_path / "signing-key.pem"),
    }
    values.update(overrides)
    return AuditSettings(**values)


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": f"d{i}",
        "action": "BLOCK" if i % 7 == 0 else "ALLOW",
        "rule": "prompt-injection" if i % 7 == 0 else None,
        "reasons": ["matched"] if i % 7 == 0 else [],
        "atlas": ["AML.T0051.000"] if i % 7 == 0 else [],
        "event": {"api.method": "chat", "client.tenant": "acme", "n": i},
        **extra,
    }


def rows(path: str) -> list[tuple[int, str, bytes, bytes]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT seq, decision_id, leaf_hash, entry FROM entries ORDER BY seq").fetchall()


def file_size(path: Path) -> int:
    return path.stat().st_size


def hang_once(log: DecisionLog, method: str, seconds: float) -> None:
    """The store's ``method`` hangs for ``seconds`` on its first call, then answers again."""
    store = log._store
    assert store is not None
    real = getattr(store, method)
    stalls = [seconds]

    def hung(*args: Any) -> Any:
        if stalls:
            time.sleep(stalls.pop())
        return real(*args)

    setattr(store, method, hung)


def check_log(settings: AuditSettings) -> Any:
    with open_reader(settings.path) as reader:
        return verify_log(reader, load_public_key(settings.signing_key))


async def test_an_acknowledged_append_is_visible_to_another_connection(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    log = await DecisionLog.open(settings)
    try:
        receipt = await log.append(record(0))
        stored = rows(settings.path)
        assert [(s, d) for s, d, _, _ in stored] == [(0, "d0")]
        assert stored[0][2] == receipt.leaf_hash == leaf_hash(stored[0][3])
        assert orjson.loads(stored[0][3])["record"] == record(0)
    finally:
        await log.close()


async def test_concurrent_appends_get_unique_contiguous_seqs_and_share_commits(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        receipts = await asyncio.gather(*(log.append(record(i)) for i in range(600)))
        assert sorted(r.seq for r in receipts) == list(range(600))
        assert log.size == 600
    stored = rows(settings.path)
    assert [s for s, *_ in stored] == list(range(600))
    by_id = {d: s for s, d, _, _ in stored}
    assert all(by_id[f"d{i}"] == receipts[i].seq for i in range(600))
    commit_times = {orjson.loads(data)["logged_at"] for *_, data in stored}
    assert len(commit_times) < 600
    assert check_log(settings).ok


async def test_a_batch_never_exceeds_max_batch(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_batch=8)
    async with DecisionLog(settings) as log:
        await asyncio.gather(*(log.append(record(i)) for i in range(100)))
    batches: dict[str, int] = {}
    for *_, data in rows(settings.path):
        stamp = orjson.loads(data)["logged_at"]
        batches[stamp] = batches.get(stamp, 0) + 1
    assert max(batches.values()) <= 8
    assert len(batches) >= 13


async def test_appends_from_many_tasks_are_all_durable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:

        async def client(c: int) -> list[int]:
            return [(await log.append(record(c * 1000 + i))).seq for i in range(25)]

        seqs = [s for part in await asyncio.gather(*(client(c) for c in range(16))) for s in part]
    assert sorted(seqs) == list(range(400))
    assert len(rows(settings.path)) == 400


async def test_reopening_continues_the_same_chain_and_tree(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        for i in range(37):
            await log.append(record(i))
    async with DecisionLog(settings) as log:
        receipt = await log.append(record(37))
        assert receipt.seq == 37
        await asyncio.gather(*(log.append(record(i)) for i in range(38, 60)))
        checkpoint = await log.checkpoint()
    stored = rows(settings.path)
    assert [s for s, *_ in stored] == list(range(60))
    assert checkpoint.root == root_of([leaf_hash(data) for *_, data in stored])
    assert orjson.loads(stored[37][3])["prev"] == stored[36][2].hex()
    report = check_log(settings)
    assert report.ok
    assert report.verified_checkpoints == report.checkpoints >= 2


async def test_reopening_rebuilds_the_tree_when_the_saved_state_is_missing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await asyncio.gather(*(log.append(record(i)) for i in range(45)))
    with sqlite3.connect(settings.path) as db:
        db.execute("DELETE FROM tree_state")
    async with DecisionLog(settings) as log:
        assert log.size == 45
        await log.append(record(45))
    assert check_log(settings).ok


def saved_state(path: str) -> tuple[int, bytes] | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT size, last_leaf FROM tree_state").fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


async def test_the_saved_state_is_rewritten_every_state_every_entries_and_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "STATE_EVERY", 10)
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        for i in range(9):
            await log.append(record(i))
        assert saved_state(settings.path) is None
        await log.append(record(9))
        assert saved_state(settings.path) == (10, rows(settings.path)[9][2])
        for i in range(10, 14):
            await log.append(record(i))
        assert saved_state(settings.path) == (10, rows(settings.path)[9][2])
    assert saved_state(settings.path) == (14, rows(settings.path)[13][2])


async def test_reopening_extends_a_saved_state_that_ends_before_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a crash: the state row was last written some entries before the end."""
    monkeypatch.setattr(sqlite_store, "STATE_EVERY", 8)
    settings = make_settings(tmp_path)
    log = await DecisionLog.open(settings)
    for i in range(21):
        await log.append(record(i))
    store = log._store
    assert isinstance(store, sqlite_store.SQLiteLogStore)
    store._unsaved = None  # no state written on close, as if the process had been killed
    await log.close()
    assert saved_state(settings.path) == (16, rows(settings.path)[15][2])
    reads: list[tuple[int, int]] = []
    real = sqlite_store.SQLiteLogStore.leaf_hashes

    def counted(self: sqlite_store.SQLiteLogStore, start: int, end: int) -> list[bytes]:
        reads.append((start, end))
        return real(self, start, end)

    monkeypatch.setattr(sqlite_store.SQLiteLogStore, "leaf_hashes", counted)
    async with DecisionLog(settings) as log:
        assert log.size == 21
        assert (0, 21) not in reads
        assert (16, 21) in reads
        receipt = await log.append(record(21))
        assert receipt.seq == 21
        checkpoint = await log.checkpoint()
    stored = rows(settings.path)
    assert checkpoint.root == root_of([leaf_hash(data) for *_, data in stored])
    assert orjson.loads(stored[21][3])["prev"] == stored[20][2].hex()
    assert check_log(settings).ok


async def test_a_saved_state_that_disagrees_with_the_entries_is_not_used(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await asyncio.gather(*(log.append(record(i)) for i in range(30)))
    with sqlite3.connect(settings.path) as db:
        db.execute("UPDATE tree_state SET size = 20, last_leaf = ?, nodes = ?",
                   (bytes(32), bytes(32) * (20).bit_count()))
    async with DecisionLog(settings) as log:
        assert log.size == 30
        await log.append(record(30))
        checkpoint = await log.checkpoint()
    assert checkpoint.root == root_of([leaf_hash(data) for *_, data in rows(settings.path)])
    assert check_log(settings).ok


async def test_checkpoints_are_written_every_n_entries_and_on_close(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, checkpoint_every=10, checkpoint_interval=3600)
    async with DecisionLog(settings) as log:
        for i in range(35):
            await log.append(record(i))
    with open_reader(settings.path) as reader:
        sizes = [c.tree_size for c in reader.checkpoints()]
    assert sizes == [10, 20, 30, 35]
    assert check_log(settings).verified_checkpoints == 4


async def test_checkpoints_are_written_periodically_only_when_there_is_news(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, checkpoint_interval=0.05)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        await log.append(record(1))
        for _ in range(100):
            await asyncio.sleep(0.02)
            with open_reader(settings.path) as reader:
                if reader.checkpoints():
                    break
        with open_reader(settings.path) as reader:
            assert [c.tree_size for c in reader.checkpoints()] == [2]
        await asyncio.sleep(0.2)
        with open_reader(settings.path) as reader:
            assert len(reader.checkpoints()) == 1


async def test_checkpoint_without_new_entries_returns_the_latest(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        first = await log.checkpoint()
        second = await log.checkpoint()
        assert second == first
        assert open_checkpoint(first.note, log.public_key).tree_size == 1
    with open_reader(settings.path) as reader:
        assert len(reader.checkpoints()) == 1


async def test_close_writes_everything_queued_and_is_idempotent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    log = await DecisionLog.open(settings)
    pending = [asyncio.create_task(log.append(record(i))) for i in range(300)]
    await asyncio.sleep(0)
    await asyncio.gather(log.close(), log.close())
    await log.close()
    assert sorted(receipt.seq for receipt in await asyncio.gather(*pending)) == list(range(300))
    with pytest.raises(LogClosedError):
        await log.append(record(300))
    with open_reader(settings.path) as reader:
        assert reader.size() == 300
        assert reader.latest_checkpoint() is not None
        assert reader.latest_checkpoint().tree_size == 300  # type: ignore[union-attr]


async def test_a_record_that_cannot_be_encoded_fails_alone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        results = await asyncio.gather(
            log.append(record(1)),
            log.append(record(2, bad=object())),
            log.append(record(3)),
            return_exceptions=True,
        )
        assert isinstance(results[1], EncodingError)
        assert [r.seq for r in (results[0], results[2])] == [1, 2]  # type: ignore[union-attr]
        with pytest.raises(EncodingError, match="decision_id"):
            await log.append({"action": "ALLOW"})
        assert (await log.append(record(4))).seq == 3
    assert check_log(settings).ok


async def test_a_failed_write_fails_its_appends_and_the_log_carries_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, busy_timeout=0.05)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        blocker = sqlite3.connect(settings.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            results = await asyncio.gather(
                *(log.append(record(i)) for i in range(1, 6)), return_exceptions=True
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert all(isinstance(r, AuditError) for r in results)
        assert "locked" in str(results[0])
        receipt = await log.append(record(6))
        assert receipt.seq == 1
    assert [d for _, d, _, _ in rows(settings.path)] == ["d0", "d6"]
    assert check_log(settings).ok


async def test_entries_cannot_be_changed_through_the_database_by_accident(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
    with sqlite3.connect(settings.path) as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE entries SET entry = x'00'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM checkpoints")


async def test_opening_a_log_in_an_unwritable_place_is_an_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = make_settings(tmp_path, path=str(blocker / "decisions.db"))
    with pytest.raises(AuditError, match="cannot open decision log"):
        await DecisionLog.open(settings)


def test_settings_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="extra"):
        AuditSettings.model_validate({"pathh": "x"})
    with pytest.raises(ValueError, match="origin"):
        AuditSettings(origin="has space")
    with pytest.raises(ValueError, match="sync"):
        AuditSettings.model_validate({"sync": "sometimes"})
    assert AuditSettings().sync == "normal"


async def test_a_second_writer_on_the_same_log_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        with pytest.raises(AuditError, match="already open for writing"):
            await DecisionLog.open(settings)
        with open_reader(settings.path) as reader:
            assert reader.size() == 1
    async with DecisionLog(settings) as log:
        assert (await log.append(record(1))).seq == 1


async def test_every_new_checkpoint_is_handed_to_the_listener(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, checkpoint_every=5, checkpoint_interval=3600)
    seen: list[int] = []
    log = await DecisionLog.open(settings, on_checkpoint=lambda c: seen.append(c.tree_size))
    for i in range(12):
        await log.append(record(i))
    await log.checkpoint()
    await log.close()
    assert seen == [5, 10, 12]
    with open_reader(settings.path) as reader:
        stored = [open_checkpoint(c.note, log.public_key).tree_size for c in reader.checkpoints()]
    assert stored == seen


@pytest.mark.parametrize(("sync", "on_loop"), [("normal", True), ("full", False)])
async def test_commits_run_on_the_event_loop_only_when_they_cannot_wait_on_the_disk(
    tmp_path: Path, sync: str, on_loop: bool
) -> None:
    settings = make_settings(tmp_path, sync=sync)
    log = await DecisionLog.open(settings)
    threads: list[int] = []
    store = log._store
    assert store is not None
    write = store.append_batch

    def spy(*args: Any) -> None:
        threads.append(threading.get_ident())
        write(*args)

    store.append_batch = spy  # type: ignore[method-assign]
    try:
        for i in range(5):  # light load: one decision per commit
            await log.append(record(i))
        await asyncio.gather(*(log.append(record(i)) for i in range(5, 105)))  # a burst
    finally:
        await log.close()
    assert len(threads) >= 6
    assert all((ident == threading.get_ident()) is on_loop for ident in threads)
    assert check_log(settings).ok


async def test_the_wal_is_moved_into_the_database_file_and_reused_under_steady_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlasgate.audit import log as log_module

    monkeypatch.setattr(log_module, "WAL_EVERY", 100)
    settings = make_settings(tmp_path)
    database = Path(settings.path)
    wal = database.with_name(database.name + "-wal")
    log = await DecisionLog.open(settings)
    pad = "x" * 2000
    largest_wal = 0
    try:
        size_before = file_size(database)
        for start in range(0, 3000, 30):  # commits never pause for long
            await asyncio.gather(*(log.append(record(i, pad=pad))
                                   for i in range(start, start + 30)))
            largest_wal = max(largest_wal, file_size(wal))
        # Automatic checkpoints are off: only the log's own passes fill the database file.
        assert file_size(database) > size_before + 2_000_000
    finally:
        await log.close()
    # About 7.5 MB was written; a WAL that is never started over would hold all of it.
    assert largest_wal < 4_000_000
    report = check_log(settings)
    assert report.ok
    assert report.entries == 3000


async def test_a_hung_commit_fails_its_appends_after_commit_timeout_and_the_log_recovers(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, sync="full", commit_timeout=0.2)
    log = await DecisionLog.open(settings)
    hang_once(log, "append_batch", 0.8)  # the first commit hangs past the timeout
    try:
        with pytest.raises(AuditError, match=r"did not answer within 0\.2s"):
            await log.append(record(0))
        await asyncio.sleep(0.8)  # the hung write completes on its thread meanwhile
        receipt = await log.append(record(1))
    finally:
        await log.close()
    # The late write still landed: the log errs on the side of the record, and stays whole.
    assert [d for _, d, _, _ in rows(settings.path)] == ["d0", "d1"]
    assert receipt.seq == 1
    assert check_log(settings).ok


async def test_a_hung_checkpoint_does_not_hold_the_next_decisions_past_commit_timeout(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, sync="full", commit_timeout=0.2, checkpoint_every=1)
    log = await DecisionLog.open(settings)
    hang_once(log, "append_checkpoint", 1.5)
    try:
        await log.append(record(0))  # committed; its checkpoint then hangs
        with pytest.raises(AuditError, match=r"did not answer within 0\.2s"):
            await log.append(record(1))  # queued behind the hung checkpoint
        await asyncio.sleep(1.5)
        await log.append(record(2))
    finally:
        await log.close()
    assert check_log(settings).ok


async def test_a_full_disk_fails_the_appends_it_refuses_and_the_log_carries_on_when_space_returns(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    async with DecisionLog(settings) as log:
        await log.append(record(0))
        store = log._store
        assert isinstance(store, sqlite_store.SQLiteLogStore)
        # SQLite's own size cap makes the next page allocation fail as a full disk does.
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        big = "x" * 20_000  # needs new pages
        results = await asyncio.gather(
            *(log.append(record(i, note=big)) for i in range(1, 4)), return_exceptions=True
        )
        assert all(isinstance(r, AuditError) for r in results)
        assert "full" in str(results[0])
        store._db.execute("PRAGMA max_page_count = 1073741823")  # space returns
        receipt = await log.append(record(4, note=big))
        assert receipt.seq == 1
    assert [d for _, d, _, _ in rows(settings.path)] == ["d0", "d4"]
    assert check_log(settings).ok


async def test_a_stalled_wal_pass_holds_commits_only_for_commit_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlasgate.audit import log as log_module

    monkeypatch.setattr(log_module, "WAL_EVERY", 10)
    settings = make_settings(tmp_path, commit_timeout=0.2)
    log = await DecisionLog.open(settings)
    try:
        for i in range(10):
            await log.append(record(i))  # the background pass starts and finishes
        await asyncio.sleep(0.3)
        hang_once(log, "checkpoint_wal", 3.0)  # the catch-up pass, which commits wait for
        started = time.monotonic()
        for i in range(10, 13):
            await log.append(record(i))
        assert time.monotonic() - started < 2.0
    finally:
        await log.close()
    assert check_log(settings).entries == 13
