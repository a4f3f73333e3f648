"""Decision-log throughput and latency: appends/s and p50/p99 append latency.

Runs the real DecisionLog (group commit, SQLite WAL) at concurrency 1 and 32 with
sync=normal and sync=full, against a baseline measured in the same process: a plain
SQLite INSERT + COMMIT per decision with the same pragmas and no hashing or signing.
Also times a full ``verify_log`` and one inclusion proof over the largest log.

    python bench/bench_audit.py            # about half a minute
    python bench/bench_audit.py --quick    # a few seconds

Numbers on a shared 2-core machine are noisy; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from atlasgate.audit import AuditSettings, DecisionLog, open_reader, verify_log
from atlasgate.audit.proof import build_inclusion_proof


def sample_record(i: int) -> dict[str, object]:
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


def baseline(directory: Path, sync: str, count: int) -> tuple[float, float, float]:
    db = sqlite3.connect(directory / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {sync.upper()}")
    db.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, decision_id TEXT, entry BLOB)")
    latencies = []
    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99)


async def decision_log(
    directory: Path, sync: str, concurrency: int, count: int
) -> tuple[float, float, float, AuditSettings]:
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

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    rate = per_worker * concurrency / elapsed
    return rate, percentile(latencies, 0.5), percentile(latencies, 0.99), settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    args = parser.parse_args()
    counts = {"normal": 600, "full": 200} if args.quick else {"normal": 6000, "full": 1500}

    rows = []
    largest: AuditSettings | None = None
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        directory = Path(tmp)
        for sync in ("normal", "full"):
            count = counts[sync]
            (directory / sync).mkdir()
            base_rate, base_p50, base_p99 = baseline(directory / sync, sync, count)
            rows.append(
                (f"baseline: INSERT+COMMIT per decision, sync={sync}", 1, base_rate, base_p50, base_p99, 1.0)
            )
            for concurrency in (1, 32):
                rate, p50, p99, settings = asyncio.run(decision_log(directory, sync, concurrency, count))
                rows.append((f"DecisionLog sync={sync}", concurrency, rate, p50, p99, rate / base_rate))
                if sync == "normal" and concurrency == 32:
                    largest = settings

        print(
            f"{'configuration':<48} {'conc':>4} {'appends/s':>10} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'vs baseline':>11}"
        )
        for name, concurrency, rate, p50, p99, ratio in rows:
            print(
                f"{name:<48} {concurrency:>4} {rate:>10,.0f} {p50 * 1e3:>8.3f} "
                f"{p99 * 1e3:>8.3f} {ratio:>10.2f}x"
            )

        assert largest is not None
        with open_reader(largest.path) as reader:
            from atlasgate.audit.checkpoint import load_public_key

            key = load_public_key(largest.signing_key)
            start = time.perf_counter()
            report = verify_log(reader, key)
            verify_time = time.perf_counter() - start
            middle = next(reader.entries(report.entries // 2, report.entries // 2 + 1))
            start = time.perf_counter()
            build_inclusion_proof(reader, middle, key)
            proof_time = time.perf_counter() - start
        print()
        print(
            f"verify_log over {report.entries:,} entries: {verify_time:.3f} s "
            f"({report.entries / verify_time:,.0f} entries/s), ok={report.ok}"
        )
        print(f"inclusion proof in a tree of {report.entries:,}: {proof_time * 1e3:.1f} ms")
        print(
            f"median batch: {statistics.median(_batch_sizes(largest.path)):.0f} entries "
            "(concurrency 32, sync=normal)"
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
