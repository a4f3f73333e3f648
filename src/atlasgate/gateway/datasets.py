"""Gated ingestion of training data: each batch is checked against its data set's profile,
the verdict is a decision in the log, and only accepted batches reach ``accept_dir``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from atlasgate import event as ev
from atlasgate.data.errors import DataError
from atlasgate.data.frames import format_for_content_type
from atlasgate.data.ingest import ingest_batch
from atlasgate.gateway.flow import Exchange
from atlasgate.gateway.http import BadRequest, header, read_body, send_json

_SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


async def ingest(x: Exchange, name: str) -> None:
    await x.authenticate()
    dataset = x.snapshot.datasets.get(name)
    if dataset is None:
        await x.reject(404, f"data set '{name}' is not registered with this gateway",
                       "dataset_not_found", rule="input.dataset_not_found")
    assert dataset is not None
    content_type = (header(x.scope, b"content-type") or b"").decode("latin-1")
    try:
        fmt = format_for_content_type(content_type)
        body = await read_body(x.scope, x.receive, dataset.spec.max_batch_bytes,
                               x.snapshot.config.limits.body_timeout)
    except DataError as exc:
        await x.reject(415, exc.reason, "unsupported_media_type", rule="input.unsupported_media_type")
    except BadRequest as exc:
        await x.reject(exc.status, exc.message, exc.code, rule=f"input.{exc.code}")
    digest = hashlib.sha256(body).hexdigest()
    await x.describe(name, {ev.API_BODY_BYTES: len(body), "data.sha256": digest, "data.format": fmt})
    try:
        report = await asyncio.to_thread(ingest_batch, dataset.profile, body, content_type,
                                         dataset.settings, batch_name=f"{name}/{digest[:12]}")
    except DataError as exc:
        await x.reject(400, str(exc), "invalid_batch", rule="input.invalid_batch")
    x.event.update({**report.event_fields(), "data.decision": report.decision.name})
    record = _json_safe(report.as_record())
    x.findings += [{"phase": "ingest", **f} for f in record["findings"]]
    policy_decision = await x.decide()
    if report.decision > policy_decision.action:  # the stronger of checks and policy applies
        x.decision = report.as_decision(policy_decision.id, policy_decision.policy_revision)
    x.event.add_techniques(report.techniques)
    decision = await x.enforce()
    stored = None
    if dataset.spec.accept_dir:
        stored = await asyncio.to_thread(_store, Path(dataset.spec.accept_dir),
                                         f"{x.event[ev.EVENT_ID]}{_SUFFIX[fmt]}", body)
        x.modified.append(f"stored {stored.name}")
    await x.record(200)
    await send_json(x.send, 200, {
        "batch_id": x.event[ev.EVENT_ID], "decision": decision.action.name,
        "sha256": digest, "stored_as": stored.name if stored else None,
        "report": record}, x.decision_headers())


def _json_safe(value: Any) -> Any:
    """Reports carry numpy scalars and class labels as keys; the log takes plain JSON."""
    return orjson.loads(orjson.dumps(
        value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))


def _store(folder: Path, name: str, body: bytes) -> Path:
    """Write atomically so a pipeline watching the folder never reads half a batch."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    temporary = folder / f".{name}.partial"
    with open(temporary, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target

