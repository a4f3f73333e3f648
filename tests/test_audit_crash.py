"""Durability: kill -9 under load, SIGTERM, and a real disk-write failure.

Each test runs a writer in a separate process, as the gateway would, and checks the
log it leaves behind with the verifier.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from atlasgate.audit import open_reader, verify_log
from atlasgate.audit.checkpoint import load_public_key
from process_output import Acknowledgements

WRITER = textwrap.dedent(
    """
    import asyncio, signal, sys
    from atlasgate.audit import AuditSettings, DecisionLog

    async def main(db, key, sync):
        settings = AuditSettings(path=db, signing_key=key, sync=sync,
                                 checkpoint_every=250, checkpoint_interval=0.2)
        log = await DecisionLog.open(settings)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        started = 0

        async def client(c):
            nonlocal started
            i = 0
            while not stop.is_set():
                started += 1
                receipt = await log.append({"decision_id": f"c{c}-{i}", "action": "ALLOW",
                                            "event": {"client": c, "n": i}})
                sys.stdout.write(f"{receipt.seq} c{c}-{i}\\n")
                sys.stdout.flush()
                i += 1

        clients = [asyncio.create_task(client(c)) for c in range(32)]
        await stop.wait()
        await asyncio.gather(*clients)
        await log.close()
        sys.stdout.write(f"started {started}\\n")
        sys.stdout.flush()

    asyncio.run(main(*sys.argv[1:4]))
    """
)


def start_writer(tmp_path: Path, sync: str = "normal") -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "d.db"), str(tmp_path / "k.pem"), sync],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def parse(lines: list[str]) -> dict[int, str]:
    acknowledged = {}
    for line in lines:
        if line.endswith("\n") and not line.startswith("started"):
            seq, decision_id = line.split()
            acknowledged[int(seq)] = decision_id
    return acknowledged


def check_log(tmp_path: Path, acknowledged: dict[int, str]) -> tuple[int, int]:
    with open_reader(tmp_path / "d.db") as reader:
        stored = {e.seq: e.decision_id for e in reader.entries()}
        report = verify_log(reader, load_public_key(tmp_path / "k.pem"))
    missing = {seq: d for seq, d in acknowledged.items() if stored.get(seq) != d}
    assert not missing, f"acknowledged decisions lost: {sorted(missing)[:10]}"
    assert sorted(stored) == list(range(len(stored)))
    assert report.ok, [str(p) for p in report.bad_checkpoints] + [str(report.first_bad_entry)]
    return len(stored), report.uncovered


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_kill_9_under_load_loses_no_acknowledged_decision(tmp_path: Path, sync: str) -> None:
    process = start_writer(tmp_path, sync)
    output = Acknowledgements(process)
    try:
        output.wait_for(4000)
        os.kill(process.pid, signal.SIGKILL)
        lines = output.finish()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    acknowledged = parse(lines)
    assert len(acknowledged) >= 4000
    stored, _ = check_log(tmp_path, acknowledged)
    assert stored >= len(acknowledged)

    # The gateway restarts on the same files and carries on with the same tree.
    script = tmp_path / "resume.py"
    script.write_text(
        textwrap.dedent(
            f"""
        import asyncio
        from atlasgate.audit import AuditSettings, DecisionLog
        async def main():
            settings = AuditSettings(path={str(tmp_path / "d.db")!r},
                                     signing_key={str(tmp_path / "k.pem")!r})
            async with DecisionLog(settings) as log:
                print((await log.append({{"decision_id": "after-restart"}})).seq)
        asyncio.run(main())
        """
        )
    )
    resumed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(resumed.stdout) == stored
    total, uncovered = check_log(tmp_path, {stored: "after-restart"})
    assert (total, uncovered) == (stored + 1, 0)


def test_sigterm_writes_every_started_decision_and_a_final_checkpoint(tmp_path: Path) -> None:
    process = start_writer(tmp_path)
    output = Acknowledgements(process)
    try:
        output.wait_for(1000)
        process.send_signal(signal.SIGTERM)
        lines = output.finish()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stderr is not None
    assert process.returncode == 0, process.stderr.read()
    assert lines[-1].startswith("started ")
    started = int(lines[-1].split()[1])
    acknowledged = parse(lines)
    assert len(acknowledged) == started
    stored, uncovered = check_log(tmp_path, acknowledged)
    assert stored == started
    assert uncovered == 0


DISK_FULL = textwrap.dedent(
    """
    import asyncio, json, os, resource, signal, sys
    from atlasgate.audit import AuditError, AuditSettings, DecisionLog

    async def main(db, key):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        settings = AuditSettings(path=db, signing_key=key)
        result = {}
        async with DecisionLog(settings) as log:
            await log.append({"decision_id": "before"})
            largest = max(os.path.getsize(db + suffix) for suffix in ("", "-wal"))
            _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 16384, hard))
            try:
                await log.append({"decision_id": "too-big", "blob": "x" * 2_000_000})
                result["failed"] = None
            except AuditError as exc:
                result["failed"] = str(exc)
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
            result["after"] = (await log.append({"decision_id": "after"})).seq
        print(json.dumps(result))

    asyncio.run(main(*sys.argv[1:3]))
    """
)


def test_a_disk_write_failure_reaches_the_appender_and_the_log_recovers(tmp_path: Path) -> None:
    script = tmp_path / "disk_full.py"
    script.write_text(DISK_FULL)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "d.db"), str(tmp_path / "k.pem")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["failed"] is not None
    assert "cannot write decision log" in result["failed"]
    assert result["after"] == 1
    with open_reader(tmp_path / "d.db") as reader:
        assert [e.decision_id for e in reader.entries()] == ["before", "after"]
        assert verify_log(reader, load_public_key(tmp_path / "k.pem")).ok
