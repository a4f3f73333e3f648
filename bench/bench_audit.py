"""Decision-log throughput and latency: appends/s and p50/p99 append latency.

Runs the real DecisionLog (group commit, SQLite WAL) at concurrency 1 and 32 with
sync=normal and sync=full, against a baseline measured in the same process: a plain
SQLite INSERT + COMMIT per decision with the same pragmas and no hashing or signing.
Then the same on PostgreSQL (store=postgresql, one writer and two replicas sharing the
log), against a plain INSERT + COMMIT per decision on the same server. Also times a
full ``verify_log`` and one inclusion proof over the largest log of each store.

    python bench/bench_audit.py            # about a minute
    python bench/bench_audit.py --quick    # a few seconds
    python bench/bench_audit.py --dsn postgresql://127.0.0.1:5432/test   # the default
    python bench/bench_audit.py --no-postgres
    python bench/bench_audit.py --record entry.json   # append this record (a gateway's)

``cpu us`` is the process's CPU time per append, every thread included (the WAL copy
runs on the log's writer thread). The default record is a small one with ordered ids;
a gateway's records are about 3.6 kB: pass one with ``--record``, either a record or a
stored entry (its ``record`` is used). Its copies get fresh ids made as the gateway
makes them (``event_id``: time first, so the decision_id index grows at its end).

PostgreSQL rows are skipped, with a note, when the server is unreachable. The tables
are created under a fresh prefix and dropped afterwards.

Numbers on a shared 2-core machine are noisy; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from atlasgate.audit import AuditSettings, DecisionLog, open_log_reader, open_reader, verify_log
from atlasgate.audit.proof import build_inclusion_proof
from atlasgate.gateway.normalize import event_id

_TEMPLATE: dict[str, object] | None = None


def sample_record(i: int) -> dict[str, object]:
    if _TEMPLATE is not None:
        return {**_TEMPLATE, "decision_id": event_id(time.time())}
    return {
        "decision_id": f"01HX{i:020d}",
        "action": "ALLOW" if i % 10 else "BLOCK",
        "rule": None if i % 10 else "prompt-injection",
        "reasons": [] if i % 10 else ["instruction override phrase in user message"],
        "atlas": [] if i % 10 else ["AML.T0051.000"],
        "phase": "request",
        "event": {
            "@timestamp": "2026-11-25T12:00:00.000000Z",
            "client.key_id": "alice",
            "client.tenant": "acme",
            "api.method": "chat",
            "api.endpoint": "/v1/chat/completions",
            "api.model": "sample-chat",
            "api.request_count": i % 50,
            "api.request_rate": 0.8,
            "api.input_similarity_score": 0.12,
            "llm.max_tokens": 256,
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline(directory: Path, sync: str, count: int) -> tuple[float, float, float, float]:
    db = sqlite3.connect(directory / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {sync.upper()}")
    db.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, decision_id TEXT, entry BLOB)")
    latencies = []
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        began = time.perf_counter()
        record = sample_record(i)
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO entries VALUES (?, ?, ?)",
            (i, record["decision_id"], orjson.dumps(record)),
        )
        db.execute("COMMIT")
        latencies.append(time.perf_counter() - began)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return count / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99), cpu / count


async def decision_log(
    directory: Path, sync: str, concurrency: int, count: int
) -> tuple[float, float, float, float, AuditSettings]:
    settings = AuditSettings(
        path=str(directory / f"log-{sync}-{concurrency}.db"),
        signing_key=str(directory / "key.pem"),
        sync=sync,  # type: ignore[arg-type]
    )
    latencies: list[float] = []
    async with DecisionLog(settings) as log:
        for i in range(50):
            await log.append(sample_record(-1 - i))
        per_worker = count // concurrency

        async def worker(w: int) -> None:
            for i in range(per_worker):
                began = time.perf_counter()
                await log.append(sample_record(w * per_worker + i))
                latencies.append(time.perf_counter() - began)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    appended = per_worker * concurrency
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return appended / elapsed, p50, p99, cpu / appended, settings


Row = tuple[str, int, float, float, float, float | None, float]
"""name, concurrency, appends/s, p50 s, p99 s, CPU s per append (None: not measured), vs baseline"""


def pg_baseline(dsn: str, prefix: str, count: int) -> tuple[float, float, float]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"CREATE TABLE {prefix}baseline (seq BIGINT PRIMARY KEY, decision_id TEXT, entry BYTEA)")
        latencies = []
        start = time.perf_counter()
        for i in range(count):
            began = time.perf_counter()
            record = sample_record(i)
            db.execute(
                f"INSERT INTO {prefix}baseline VALUES (%s, %s, %s)",
                (i, record["decision_id"], orjson.dumps(record)),
            )
            latencies.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - start
    return count / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99)


async def pg_decision_log(
    settings: AuditSettings, concurrency: int, count: int, replicas: int
) -> tuple[float, float, float]:
    latencies: list[float] = []
    logs = [await DecisionLog.open(settings) for _ in range(replicas)]
    try:
        for i in range(50):
            await logs[0].append(sample_record(-1 - i))
        per_worker = count // concurrency

        async def worker(w: int) -> None:
            log = logs[w % replicas]
            for i in range(per_worker):
                began = time.perf_counter()
                await log.append(sample_record(w * per_worker + i))
                latencies.append(time.perf_counter() - began)

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        for log in logs:
            await log.close()
    return per_worker * concurrency / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99)


def drop_prefix(dsn: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        for (table,) in db.execute(
            "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)", (prefix,)
        ).fetchall():
            db.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        for (function,) in db.execute(
            "SELECT proname FROM pg_proc WHERE starts_with(proname, %s)", (prefix,)
        ).fetchall():
            db.execute(f'DROP FUNCTION IF EXISTS "{function}"()')


def postgres_unreachable(dsn: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'atlasgate[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return " ".join(str(exc).split())


def postgres_rows(directory: Path, dsn: str, count: int) -> tuple[list[Row], Any]:
    """PostgreSQL rows, and the settings of the largest log (concurrency 32, one writer)."""
    run = f"bench{uuid.uuid4().hex[:8]}_"
    rows: list[Row] = []
    largest = None
    try:
        base_rate, base_p50, base_p99 = pg_baseline(dsn, run, count)
        rows.append(
            ("baseline: PostgreSQL INSERT+COMMIT per decision", 1, base_rate, base_p50, base_p99, None, 1.0)
        )
        for concurrency, replicas in ((1, 1), (32, 1), (32, 2)):
            settings = AuditSettings(
                store="postgresql",
                dsn=dsn,
                table_prefix=f"{run}c{concurrency}r{replicas}_",
                signing_key=str(directory / "key.pem"),
            )
            rate, p50, p99 = asyncio.run(pg_decision_log(settings, concurrency, count, replicas))
            name = "DecisionLog postgresql" + (f", {replicas} replicas" if replicas > 1 else "")
            rows.append((name, concurrency, rate, p50, p99, None, rate / base_rate))
            if (concurrency, replicas) == (32, 1):
                largest = settings
        timings = None
        if largest is not None:
            timings = verify_and_prove(open_log_reader(largest), largest)
    finally:
        drop_prefix(dsn, run)
    return rows, timings


def verify_and_prove(reader: Any, settings: AuditSettings) -> tuple[int, float, float, bool]:
    from atlasgate.audit.checkpoint import load_public_key

    with reader:
        key = load_public_key(settings.signing_key)
        start = time.perf_counter()
        report = verify_log(reader, key)
        verify_time = time.perf_counter() - start
        middle = next(reader.entries(report.entries // 2, report.entries // 2 + 1))
        start = time.perf_counter()
        build_inclusion_proof(reader, middle, key)
        proof_time = time.perf_counter() - start
    return report.entries, verify_time, proof_time, report.ok


def print_rows(rows: list[Row]) -> None:
    print(
        f"{'configuration':<52} {'conc':>4} {'appends/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu us':>7} {'vs baseline':>11}"
    )
    for name, concurrency, rate, p50, p99, cpu, ratio in rows:
        cpu_text = "-" if cpu is None else f"{cpu * 1e6:.1f}"
        print(
            f"{name:<52} {concurrency:>4} {rate:>10,.0f} {p50 * 1e3:>8.3f} {p99 * 1e3:>8.3f} "
            f"{cpu_text:>7} {ratio:>10.2f}x"
        )


def print_timings(store: str, timings: tuple[int, float, float, bool]) -> None:
    entries, verify_time, proof_time, ok = timings
    print(
        f"{store}: verify_log over {entries:,} entries: {verify_time:.3f} s "
        f"({entries / verify_time:,.0f} entries/s), ok={ok}; "
        f"inclusion proof in a tree of {entries:,}: {proof_time * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("ATLASGATE_BENCH_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test"),
        help="PostgreSQL server for the postgresql rows",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite rows only")
    parser.add_argument("--record", type=Path, help="JSON record (or stored entry) to append")
    args = parser.parse_args()
    if args.record is not None:
        global _TEMPLATE
        loaded = orjson.loads(args.record.read_bytes())
        _TEMPLATE = loaded["record"] if isinstance(loaded.get("record"), dict) else loaded
    counts = {"normal": 600, "full": 200} if args.quick else {"normal": 6000, "full": 1500}
    pg_count = 400 if args.quick else 3000

    rows: list[Row] = []
    largest: AuditSettings | None = None
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        directory = Path(tmp)
        for sync in ("normal", "full"):
            count = counts[sync]
            (directory / sync).mkdir()
            base_rate, base_p50, base_p99, base_cpu = baseline(directory / sync, sync, count)
            rows.append(
                (
                    f"baseline: SQLite INSERT+COMMIT per decision, sync={sync}",
                    1,
                    base_rate,
                    base_p50,
                    base_p99,
                    base_cpu,
                    1.0,
                )
            )
            for concurrency in (1, 32):
                rate, p50, p99, cpu, settings = asyncio.run(
                    decision_log(directory, sync, concurrency, count)
                )
                rows.append(
                    (f"DecisionLog sync={sync}", concurrency, rate, p50, p99, cpu, rate / base_rate)
                )
                if sync == "normal" and concurrency == 32:
                    largest = settings

        pg_timings = None
        pg_note = "skipped (--no-postgres)" if args.no_postgres else postgres_unreachable(args.dsn)
        if pg_note is None:
            pg_rows, pg_timings = postgres_rows(directory, args.dsn, pg_count)
            rows += pg_rows

        print_rows(rows)
        print()
        assert largest is not None
        print_timings("sqlite", verify_and_prove(open_reader(largest.path), largest))
        if pg_timings is not None:
            print_timings("postgresql", pg_timings)
        else:
            print(f"postgresql: {pg_note}")
        print(
            f"median batch: {statistics.median(_batch_sizes(largest.path)):.0f} entries "
            "(SQLite, concurrency 32, sync=normal)"
        )


def _batch_sizes(path: str) -> list[int]:
    """Entries per commit after the serial warm-up, from the shared commit timestamps."""
    sizes: dict[str, int] = {}
    with sqlite3.connect(path) as db:
        for (data,) in db.execute("SELECT entry FROM entries WHERE seq >= 50"):
            stamp = orjson.loads(data)["logged_at"]
            sizes[stamp] = sizes.get(stamp, 0) + 1
    return list(sizes.values())


if __name__ == "__main__":
    main()
