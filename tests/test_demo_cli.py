"""`atlasgate demo`, the README's first command, as a user runs it: start, scenario, use, stop."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai

from process_output import Acknowledgements

ATLASGATE = [sys.executable, "-c", "from atlasgate.cli.main import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(reader: Acknowledgements, process: subprocess.Popen[str], text: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in reader.lines:
            if text in line:
                return "".join(reader.lines)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in the demo's output:\n{''.join(reader.lines)}")


def test_demo_runs_its_scenario_serves_what_it_prints_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    process = subprocess.Popen(
        [*ATLASGATE, "demo", "--port", str(port),
         "--data-dir", str(tmp_path / "demo")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader = Acknowledgements(process)
    try:
        output = wait_for_line(reader, process, "scenario done")
        # The scenario shows a blocked prompt and a constrained bulk of predict queries.
        assert re.search(r"/v1/chat/completions\s+BLOCK\s+content-injection-block", output)
        assert re.search(r":predict\s+CONSTRAIN\s+core-predict-bulk-top1", output)
        # What it prints is enough to use it at once.
        base = re.search(r"Gateway\s+(http://\S+/v1)", output)
        key = re.search(r"API key\s+(\S+)", output)
        assert base is not None
        assert key is not None
        client = openai.OpenAI(base_url=base.group(1), api_key=key.group(1), max_retries=0)
        answer = client.chat.completions.create(
            model="sample-chat", messages=[{"role": "user", "content": "hello"}])
        assert answer.choices[0].message.content
    finally:
        process.send_signal(signal.SIGINT)
        lines = reader.finish()
    output = "".join(lines)
    assert "the decision log is checkpointed" in output
    # The verify command it printed works, and the log it names is intact.
    verify = re.search(r"verify it: (atlasgate audit .+)", output)
    assert verify is not None
    argv = shlex.split(verify.group(1))
    done = subprocess.run([*ATLASGATE, *argv[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: hash chain and tree intact" in done.stdout
