"""The gateway's ingestion function: bodies in three formats, and clear errors for bad ones."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import load_wine

from atlasgate.data.errors import DataError
from atlasgate.data.ingest import ingest_batch
from atlasgate.data.profile import Profile
from atlasgate.policy.decision import Action


@pytest.fixture(scope="module")
def setup():
    frame = load_wine(as_frame=True).frame
    order = np.random.default_rng(1).permutation(len(frame))
    base, batch = frame.iloc[order[:110]], frame.iloc[order[110:]].reset_index(drop=True)
    return Profile.learn(base, "target"), batch


def test_csv_jsonl_and_parquet_bodies_give_the_same_decision(setup):
    profile, batch = setup
    parquet = io.BytesIO()
    batch.to_parquet(parquet)
    bodies = {
        "text/csv": batch.to_csv(index=False).encode(),
        "application/x-ndjson": batch.to_json(orient="records", lines=True).encode(),
        "application/vnd.apache.parquet": parquet.getvalue(),
    }
    decisions = {ct: ingest_batch(profile, body, ct).decision for ct, body in bodies.items()}
    assert set(decisions.values()) == {Action.ALLOW}


def test_poisoned_body_blocks(setup):
    profile, batch = setup
    poisoned = batch.copy()
    poisoned.loc[:25, "target"] = (poisoned.loc[:25, "target"] + 1) % 3
    report = ingest_batch(profile, poisoned.to_csv(index=False).encode(), "text/csv")
    assert report.decision == Action.BLOCK


def test_bad_bodies_raise_data_errors(setup):
    profile, _ = setup
    with pytest.raises(DataError, match="<body>:2: not valid JSON"):
        ingest_batch(profile, b'{"a": 1}\n{oops\n', "application/x-ndjson")
    with pytest.raises(DataError, match="unsupported content type"):
        ingest_batch(profile, b"", "application/xml")
