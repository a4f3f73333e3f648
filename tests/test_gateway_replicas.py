"""Two gateway replicas sharing state through the real Redis: one caller, one set of counts."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import orjson
import pytest

from gateway_harness import base_config, http, start_gateway


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


if not _redis_up():
    if os.environ.get("CI") == "true":
        raise RuntimeError("Redis is not reachable on 127.0.0.1:6379, and CI=true forbids skipping")
    pytest.skip("Redis is not reachable on 127.0.0.1:6379", allow_module_level=True)

BURST_RULE = """\
title: One key keeps predicting across replicas
id: 6c1b3f0e-7d7a-4f43-9a39-0d9d2c6f1a10
status: test
logsource: {product: atlasgate, category: api_activity}
detection:
  selection: {api.method: predict}
  condition: selection
level: medium
tags: [atlas.t0024.002]
---
title: Four predictions by one key within a minute
id: 0e8e2f6a-1b7f-4a5e-8f7c-5a4a0d1c2b30
status: test
correlation:
  type: event_count
  rules: [6c1b3f0e-7d7a-4f43-9a39-0d9d2c6f1a10]
  group-by: [client.key_id]
  timespan: 1m
  condition: {gte: 4}
level: high
tags: [atlas.t0024.002]
"""


def test_replicas_share_windows_and_correlations(loop_thread, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "burst.yml"
    rules.write_text(BURST_RULE)
    state = {"backend": "redis", "prefix": f"atlasgate-test-{uuid.uuid4().hex[:8]}:"}
    replicas = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        config = base_config(samples, folder, state=state, sigma={"rules": [str(rules)]},
                             policy={"include_defaults": False})
        replicas.append(start_gateway(loop_thread, config, folder))
    try:
        row = samples.classifier.X[0].astype(float).tolist()
        counts = []
        for i in range(4):
            replica = replicas[i % 2]
            reply = http("POST", f"{replica.url}/v1/models/sample-digits:predict",
                         orjson.dumps({"instances": [row]}))
            assert reply.status == 200
            counts.append([e for e in replica.entries if "event" in e][-1]["event"]["api.request_count"])
        assert counts == [1, 2, 3, 4]  # one caller, counted once across both replicas
        alerts = [e for r in replicas for e in r.entries if e.get("kind") == "alert"]
        assert [a["alert"]["sigma.kind"] for a in alerts] == ["correlation"]
        assert alerts[0]["alert"]["rule.id"] == "0e8e2f6a-1b7f-4a5e-8f7c-5a4a0d1c2b30"
    finally:
        for replica in replicas:
            replica.stop()
