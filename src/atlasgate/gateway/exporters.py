"""Exporters: every decision and alert, as one JSON object per line, for a SIEM's collector.

Collectors (Filebeat, the Splunk universal forwarder, Azure Monitor Agent, Vector)
tail files; the file is written from its own thread so the event loop never waits
on the disk, and reopened on reload so log rotation by rename works.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("atlasgate")

_STOP = object()


def siem_event(entry: dict[str, Any]) -> dict[str, Any]:
    """Flatten a log entry into the ECS-like shape SIEM rules read (dotted field names)."""
    if entry.get("kind") == "alert":
        return {**entry["alert"], "decision.id": entry.get("decision_id")}
    event = dict(entry.get("event") or {})
    decision = entry.get("response_decision") or entry.get("decision") or {}
    event.setdefault("decision.action", decision.get("action"))
    event.setdefault("decision.rule", decision.get("rule"))
    event["decision.matched"] = (entry.get("decision") or {}).get("matched", [])
    if entry.get("kind"):
        event["event.kind"] = entry["kind"]
        event["decision.id"] = entry.get("decision_id")
    outcome = entry.get("outcome") or {}
    if "gateway_ms" in outcome:
        event["event.duration_ms"] = outcome["gateway_ms"]
    return event


class JsonlExporter:
    def __init__(self, path: str, max_queue: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[Any] = queue.Queue(max_queue)
        self._reopen = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="atlasgate-export", daemon=True)
        self._thread.start()

    def __call__(self, entry: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(siem_event(entry))
        except queue.Full:
            self.dropped += 1  # the decision log still has it; the SIEM copy is best effort

    def reopen(self) -> None:
        self._reopen.set()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(10)

    def _run(self) -> None:
        handle = open(self.path, "ab")  # noqa: SIM115 - kept open for the thread's life
        try:
            while True:
                item = self._queue.get()
                batch = [item]
                while not self._queue.empty() and len(batch) < 1024:
                    batch.append(self._queue.get_nowait())
                stop = any(i is _STOP for i in batch)
                lines = b"".join(orjson.dumps(i, option=orjson.OPT_NON_STR_KEYS) + b"\n"
                                 for i in batch if i is not _STOP)
                try:
                    handle.write(lines)
                    handle.flush()
                except OSError as exc:
                    log.error("exporter %s: %s", self.path, exc)
                if self._reopen.is_set():
                    self._reopen.clear()
                    handle.close()
                    handle = open(self.path, "ab")  # noqa: SIM115
                if stop:
                    return
        finally:
            handle.close()
