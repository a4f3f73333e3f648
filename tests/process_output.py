"""Reading a child process's output lines while it runs, for crash and kill tests."""

from __future__ import annotations

import subprocess
import threading
import time


class Acknowledgements:
    """Collects the writer's output lines on a thread, so the pipe never fills up."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.lines) < count and time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            time.sleep(0.01)

    def finish(self) -> list[str]:
        self._process.wait(timeout=60)
        self._thread.join(timeout=60)
        return self.lines
