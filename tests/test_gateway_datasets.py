"""POST /v1/datasets/{name}/batches: training data is gated through the decision log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from atlasgate.data.profile import Profile
from gateway_harness import RunningGateway, http


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame
    order = np.random.default_rng(3).permutation(len(frame))
    half = len(frame) // 2
    return (frame.iloc[order[:half]].reset_index(drop=True),
            frame.iloc[order[half:]].reset_index(drop=True))


@pytest.fixture
def ingest_gateway(make_gateway, halves, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    profile = tmp_path / "cancer-profile.json"
    Profile.learn(halves[0], "target", seed=1).save(profile)
    return make_gateway(datasets=[{"name": "cancer", "profile": str(profile),
                                   "accept_dir": str(tmp_path / "accepted")}])  # type: ignore[no-any-return]


def post(gw: RunningGateway, body: bytes, content_type: str = "text/csv", name: str = "cancer"):  # type: ignore[no-untyped-def]
    return http("POST", f"{gw.url}/v1/datasets/{name}/batches", body,
                headers={"content-type": content_type})


def test_a_clean_batch_is_accepted_stored_and_logged(ingest_gateway, halves, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reply = post(ingest_gateway, halves[1].to_csv(index=False).encode())
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["decision"] in ("ALLOW", "LOG")
    assert (tmp_path / "accepted" / body["stored_as"]).exists()
    entry = ingest_gateway.entries[-1]
    assert entry["event"]["api.method"] == "ingest"
    assert entry["event"]["data.rows"] == len(halves[1])
    assert entry["event"]["data.sha256"] == body["sha256"]


def test_label_flips_block_the_batch_and_nothing_is_stored(ingest_gateway, halves, tmp_path) -> None:  # type: ignore[no-untyped-def]
    batch = halves[1].copy()
    flipped = np.random.default_rng(0).choice(len(batch), 28, replace=False)
    batch.loc[flipped, "target"] = 1 - batch.loc[flipped, "target"]
    reply = post(ingest_gateway, batch.to_csv(index=False).encode())
    assert reply.status == 403
    entry = ingest_gateway.entries[-1]
    assert entry["decision"]["action"] == "BLOCK"
    assert "AML.T0020" in entry["event"]["atlas.techniques"]
    assert any(f["check"] == "label_flips" for f in entry["findings"])
    assert not (tmp_path / "accepted").exists() or not list((tmp_path / "accepted").iterdir())


def test_jsonl_batches_are_accepted_too(ingest_gateway, halves) -> None:  # type: ignore[no-untyped-def]
    reply = post(ingest_gateway, halves[1].to_json(orient="records", lines=True).encode(),
                 "application/x-ndjson")
    assert reply.status == 200, reply.body


def test_bad_batches_get_clear_errors(ingest_gateway) -> None:  # type: ignore[no-untyped-def]
    assert post(ingest_gateway, b"a,b\n1,2\n", "application/pdf").status == 415
    malformed = post(ingest_gateway, b'a,b\n1,"2\n')
    assert malformed.status == 400
    assert "bad CSV" in malformed.json()["error"]
    assert post(ingest_gateway, b"a\n1\n", name="nope").status == 404
