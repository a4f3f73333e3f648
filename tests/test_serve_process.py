"""``atlasgate serve`` as users run it: a real process, real signals, a log that verifies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.client import HTTPException
from pathlib import Path

import orjson
import pytest
import yaml

from gateway_harness import ADMIN_KEY, USER_KEY, base_config, http

CHAT = {"model": "sample-chat", "messages": [{"role": "user", "content": "hello"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def atlasgate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atlasgate.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


class Served:
    def __init__(self, config_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "atlasgate.cli", "serve", "--config", str(config_path),
             "--port", str(self.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
            try:
                if http("GET", self.url + "/healthz", key=None, timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("serve did not start")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(30)


def write_config(path: Path, config: dict, rules: list[dict]) -> None:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump({**config, "policy": {"include_defaults": True, "rules": rules}}))


def test_bad_config_fails_at_start_with_file_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text("listen:\n  port: 8080\nlimits:\n  max_body_byte: 10\n")
    result = atlasgate("serve", "--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4: limits.max_body_byte: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    check = atlasgate("config", "check", str(bad))
    assert check.returncode == 1
    assert "max_body_byte" in check.stderr


def test_sighup_reloads_and_sigterm_drains_into_a_verifiable_log(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = base_config(samples, tmp_path)
    path = tmp_path / "gateway.yaml"
    write_config(path, config, [])
    assert atlasgate("config", "check", str(path)).returncode == 0
    served = Served(path)
    try:
        assert http("POST", served.url + "/v1/chat/completions", orjson.dumps(CHAT)).status == 200
        write_config(path, config, [{"id": "no-chat", "condition": 'api.method == "chat"',
                                     "action": "BLOCK", "atlas": ["AML.T0051"]}])
        served.process.send_signal(signal.SIGHUP)
        for _ in range(50):
            status = http("POST", served.url + "/v1/chat/completions", orjson.dumps(CHAT)).status
            if status == 403:
                break
            time.sleep(0.1)
        assert status == 403
        path.write_text("policy: [not, a, mapping]\n")
        served.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert http("POST", served.url + "/v1/chat/completions", orjson.dumps(CHAT)).status == 403
    finally:
        code = served.stop()
    assert code == 0
    stderr = served.process.stderr.read()  # type: ignore[union-attr]
    assert "reload failed" in stderr
    write_config(path, config, [])
    verify = atlasgate("audit", "--config", str(path), "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    tail = atlasgate("audit", "--config", str(path), "tail", "-n", "100")
    assert tail.stdout.count("decision_id") >= 3


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_decision(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = base_config(samples, tmp_path)
    path = tmp_path / "gateway.yaml"
    write_config(path, config, [])
    served = Served(path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        body = orjson.dumps(CHAT)
        while not stop.is_set():
            try:
                reply = http("POST", served.url + "/v1/chat/completions", body, timeout=5)
            except (OSError, HTTPException):  # the kill cuts some answers short
                return
            if reply.status == 200:
                acknowledged.append(reply.headers["x-atlasgate-decision-id"])

    workers = [threading.Thread(target=load) for _ in range(8)]
    for worker in workers:
        worker.start()
    while len(acknowledged) < 200:
        time.sleep(0.05)
    os.kill(served.process.pid, signal.SIGKILL)
    served.process.wait(10)
    stop.set()
    for worker in workers:
        worker.join(10)
    verify = atlasgate("audit", "--config", str(path), "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    export = atlasgate("audit", "--config", str(path), "export", "--format", "jsonl")
    logged = {orjson.loads(line)["record"]["decision_id"] for line in export.stdout.splitlines() if line}
    missing = set(acknowledged) - logged
    assert not missing, f"{len(missing)} acknowledged decisions missing from the log"


def test_keys_and_policy_commands(tmp_path: Path) -> None:
    new = atlasgate("keys", "new", "--id", "svc", "--tenant", "acme", "--admin")
    key = new.stderr.split(": ")[-1].strip()
    assert key.startswith("ag-")
    assert atlasgate("keys", "hash", key).stdout.strip() in new.stdout
    rules = tmp_path / "rules.yaml"
    rules.write_text('- id: big\n  condition: "llm.max_tokens > 10"\n  action: LOG\n')
    lint = atlasgate("policy", "lint", str(rules))
    assert lint.returncode == 0
    assert "names no ATLAS technique" in lint.stdout
    rules.write_text('- id: big\n  condition: "llm.max_tokens >"\n  action: LOG\n')
    lint = atlasgate("policy", "lint", str(rules))
    assert lint.returncode == 1
    assert f"{rules}:2: rule big: invalid CEL condition" in lint.stderr
    events = tmp_path / "events.jsonl"
    rules.write_text('- id: big\n  condition: "llm.max_tokens > 10"\n  action: LOG\n'
                     '  atlas: [AML.T0034]\n')
    events.write_text('{"llm.max_tokens": 50, "expect": "LOG"}\n{"llm.max_tokens": 5, "expect": "LOG"}\n')
    result = atlasgate("policy", "test", str(rules), "--events", str(events))
    assert result.returncode == 1
    assert ":2: ALLOW" in result.stdout
    assert "MISMATCH" in result.stdout


def test_admin_key_reload_route_reports_revision(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gateway.yaml"
    write_config(path, base_config(samples, tmp_path), [])
    served = Served(path)
    try:
        reply = http("POST", served.url + "/admin/reload", key=ADMIN_KEY)
        assert reply.status == 200
        assert len(reply.json()["revision"]) == 16
        assert http("POST", served.url + "/admin/reload", key=USER_KEY).status == 403
    finally:
        served.stop()
