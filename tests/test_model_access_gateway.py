"""Real query streams through a running gateway in front of the sample digits classifier.

The model is registered once per module from the classifier's own training split, the
way an operator runs ``atlasgate model register``; every stream then goes over HTTP
through the gateway, and the assertions read the decision log the gateway wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from atlasgate.demo.sample_classifier import train_sample_classifier
from atlasgate.features.model_access.registry import register
from gateway_harness import USER_KEY, RunningGateway, http

MODEL = "sample-digits"


@pytest.fixture(scope="module")
def split() -> dict[str, np.ndarray]:
    classifier = train_sample_classifier()
    X_train, X_test, y_train, y_test = train_test_split(
        classifier.X, classifier.y, test_size=0.25, random_state=0, stratify=classifier.y)
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, split: dict[str, np.ndarray]) -> Path:
    root = tmp_path_factory.mktemp("models")
    frame = pd.DataFrame(split["X_train"], columns=[f"pixel{i}" for i in range(64)])
    frame["digit"] = split["y_train"]
    with threadpool_limits(limits=1):
        register(MODEL, frame, "digit", root, source="digits-train.csv")
    return root


@pytest.fixture
def guarded(make_gateway: Callable[..., RunningGateway], registry: Path) -> RunningGateway:
    return make_gateway(detectors={"model_access": {"registry": str(registry)}})


def ask(gw: RunningGateway, row: np.ndarray | list[float], key: str = USER_KEY) -> tuple[int, Any]:
    reply = http("POST", f"{gw.url}/v1/models/{MODEL}:predict",
                 orjson.dumps({"instances": [np.asarray(row, dtype=float).tolist()]}), key=key)
    return reply.status, reply.json()


def model_access_rules(entry: dict[str, Any]) -> list[str]:
    return [r for r in entry["decision"]["matched"] if r.startswith("ma-")]


def first_flagged(entries: list[dict[str, Any]]) -> int | None:
    """1-based index of the first request on which a model-access rule acted."""
    for index, entry in enumerate(entries, start=1):
        if model_access_rules(entry):
            return index
    return None


PROGRESS_RULES = ("ma-extraction-progress-warning", "ma-extraction-progress-coarsen")


def alarms(entry: dict[str, Any]) -> list[str]:
    """Model-access rules other than the extraction-progress warning, which honest heavy use
    of natural data reaches by design (it is the same stream as natural-data extraction)."""
    return [r for r in model_access_rules(entry) if r not in PROGRESS_RULES]


def test_benign_stream_with_retries_raises_no_alarm(guarded: RunningGateway, split) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    rows = split["X_test"][rng.permutation(len(split["X_test"]))[:120]]
    sent = []
    for index, row in enumerate(rows):
        sent.append(row)
        if index % 20 == 19:
            sent.append(row)  # an honest retry of the same input
    for row in sent:
        assert ask(guarded, row)[0] == 200
    entries = guarded.entries[-len(sent):]
    assert [alarms(e) for e in entries] == [[] for _ in entries]
    assert [model_access_rules(e) for e in entries[:30]] == [[] for _ in range(30)]
    progress = [e["event"]["api.extraction_progress"] for e in entries]
    assert progress == sorted(progress)
    assert progress[-1] > progress[10]
    last = entries[-1]["event"]
    assert last["api.repeat_ratio"] == pytest.approx(6 / len(sent), abs=1e-3)
    assert last["api.distinct_inputs"] == 120
    assert "api.input_similarity_score" not in last  # a pure retry is set aside
    assert 0 <= entries[-2]["event"]["api.input_similarity_score"] < 0.85
    assert last["api.min_distance_normality_p"] > 0.0
    assert last["detection.model_access.stateful"] is False
    assert last["api.ood_rate"] < 0.1


def test_one_class_user_stays_below_the_extraction_warning(guarded: RunningGateway, split) -> None:  # type: ignore[no-untyped-def]
    sevens = split["X_test"][split["y_test"] == 7]
    for row in sevens:
        assert ask(guarded, row)[0] == 200
    entries = guarded.entries[-len(sevens):]
    assert [model_access_rules(e) for e in entries] == [[] for _ in entries]
    assert entries[-1]["event"]["api.extraction_progress"] < 0.75
    assert entries[-1]["event"]["api.class_coverage"] <= 0.2


def boundary_probe(gw: RunningGateway, start: np.ndarray, far: np.ndarray, budget: int) -> list[int]:
    """A decision-based evasion stream: binary search to the boundary, then probes around it."""
    label = int(np.argmax(ask(gw, start)[1]["predictions"][0]))
    statuses = []
    low, high = 0.0, 1.0
    rng = np.random.default_rng(7)
    while len(statuses) < budget:
        if len(statuses) < 12:
            mid = (low + high) / 2
            point = (1 - mid) * start + mid * far
            status, body = ask(gw, point)
            statuses.append(status)
            if status != 200:
                continue
            if int(np.argmax(body["predictions"][0])) == label:
                low = mid
            else:
                high = mid
        else:
            edge = (1 - high) * start + high * far
            status, _ = ask(gw, np.clip(edge + rng.normal(0, 0.05, 64), 0, 16))
            statuses.append(status)
    return statuses


def test_boundary_probing_is_caught_within_25_queries_then_blocked(guarded: RunningGateway, split) -> None:  # type: ignore[no-untyped-def]
    start = split["X_test"][3]
    far = split["X_test"][np.flatnonzero(split["y_test"] != split["y_test"][3])[0]]
    statuses = boundary_probe(guarded, start, far, 40)
    entries = guarded.entries[-40:]
    caught = first_flagged(entries)
    assert caught is not None
    assert caught <= 25
    assert entries[caught - 1]["event"]["detection.model_access.knn_hits"] >= 1
    assert "AML.T0043" in entries[caught - 1]["decision"]["techniques"]
    assert 403 in statuses
    blocked = entries[statuses.index(403)]
    assert blocked["decision"]["rule"] == "ma-probing-block"


def test_uniform_noise_extraction_gets_labels_only(guarded: RunningGateway) -> None:
    rng = np.random.default_rng(3)
    answers = [ask(guarded, rng.uniform(0, 16, 64)) for _ in range(30)]
    entries = guarded.entries[-30:]
    caught = first_flagged(entries)
    assert caught is not None
    assert caught <= 10
    status, body = answers[-1]
    assert status == 200
    assert sorted(body["predictions"][0]) == [0.0] * 9 + [1.0]
    last = entries[-1]
    assert "ma-extraction-synthetic" in last["decision"]["matched"]
    assert last["event"]["api.ood_rate"] > 0.9
    assert "top1" in last["outcome"]["modified"]


def test_training_rows_reveal_membership_probing(guarded: RunningGateway, split) -> None:  # type: ignore[no-untyped-def]
    members = split["X_train"][:10]
    outsiders = split["X_test"][:10]
    for member, outsider in zip(members, outsiders, strict=True):
        ask(guarded, member)
        ask(guarded, outsider)
    entries = guarded.entries[-20:]
    last = entries[-1]["event"]
    assert last["detection.model_access.membership_hits"] == 10
    assert last["api.training_hit_rate"] == pytest.approx(0.5)
    assert "ma-membership-training-rows" in entries[-1]["decision"]["matched"]
    assert "AML.T0024.000" in entries[-1]["decision"]["techniques"]


def test_callers_are_tracked_separately(make_gateway, registry: Path, split) -> None:  # type: ignore[no-untyped-def]
    from gateway_harness import OTHER_KEY

    gw = make_gateway(detectors={"model_access": {"registry": str(registry)}})
    rng = np.random.default_rng(5)
    for _ in range(10):
        ask(gw, rng.uniform(0, 16, 64), key=OTHER_KEY)
    ask(gw, split["X_test"][0])
    mine = gw.entries[-1]["event"]
    assert mine["client.key_id"] == "alice"
    assert mine["api.queries"] == 1
    assert model_access_rules(gw.entries[-1]) == []


def test_odd_inputs_get_no_stream_fields_and_no_error(guarded: RunningGateway) -> None:
    reply = http("POST", f"{guarded.url}/v1/models/{MODEL}:predict",
                 orjson.dumps({"instances": [["a"] * 64]}))
    assert reply.status == 400  # the model refuses it; the gateway did not fail first
    event = guarded.entries[-1]["event"]
    assert "api.input_similarity_score" not in event
    assert "detection.model_access.error" not in event


def test_art_hopskipjump_is_caught_and_then_refused(guarded: RunningGateway, split) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("art", reason="the ART attack needs the bench extra: pip install -e '.[bench]'")
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    statuses: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        out = np.full((x.shape[0], 10), 0.1)
        for i, row in enumerate(x):
            if len(statuses) >= 150:
                break
            status, body = ask(guarded, row)
            statuses.append(status)
            if status == 200:
                out[i] = body["predictions"][0]
        return out

    classifier = BlackBoxClassifier(predict, (64,), 10, clip_values=(0.0, 16.0))
    x0 = split["X_test"][11:12].astype(np.float32)
    HopSkipJump(classifier, targeted=False, max_iter=2, max_eval=50, init_eval=10, init_size=10,
                verbose=False).generate(x=x0)
    entries = guarded.entries[-len(statuses):]
    caught = first_flagged(entries)
    assert caught is not None
    assert caught <= 25
    assert 403 in statuses
    assert statuses.index(403) < 40
