"""The model-access monitor on its own: settings, input parsing, stream features, bounds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from atlasgate.config.load import ConfigOrigin, build_config, parse_config
from atlasgate.errors import ConfigError
from atlasgate.event import Event
from atlasgate.features.model_access import fields as f
from atlasgate.features.model_access.inputs import request_rows, response_labels
from atlasgate.features.model_access.monitor import ModelAccessMonitor
from atlasgate.features.model_access.registry import register
from atlasgate.features.store import MemoryStateStore


@pytest.fixture(scope="module")
def iris_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    frame["species"] = y
    root = tmp_path_factory.mktemp("models")
    with threadpool_limits(limits=1):
        register("iris", frame, "species", root, source="iris.csv")
    return root


def monitor_for(settings: dict[str, Any]) -> ModelAccessMonitor:
    config = build_config({"detectors": {"model_access": settings}}, ConfigOrigin(None, Path.cwd(), None))
    return ModelAccessMonitor(config, MemoryStateStore())


def feed(monitor: ModelAccessMonitor, rows: list[list[float]] | np.ndarray, *, key: str = "alice",
         model: str = "iris", version: str = "v1") -> list[Event]:
    events = []

    async def go() -> None:
        for i, row in enumerate(rows):
            event = Event({"event.id": f"{key}-{len(events)}-{i}", "client.tenant": "acme",
                           "client.key_id": key, "api.model": model, "ml.instance_count": 1})
            await monitor.observe(event, {"instances": [list(map(float, row))]}, version)
            await monitor.observe_response(event, {"predictions": [[0.2, 0.7, 0.1]]}, version)
            events.append(event)

    asyncio.run(go())
    return events


# ---- settings ------------------------------------------------------------------------------


def test_unknown_setting_names_the_line(tmp_path: Path) -> None:
    text = "detectors:\n  model_access:\n    buffer: 64\n    bufer: 32\n"
    config = parse_config(text, "gateway.yaml", tmp_path)
    with pytest.raises(ConfigError) as caught:
        ModelAccessMonitor(config, MemoryStateStore())
    assert caught.value.line == 4
    assert "unknown setting" in str(caught.value)
    assert "buffer" in str(caught.value)


@pytest.mark.parametrize(("settings", "reason"), [
    ({"buffer": 2}, "from 8 to 4096"),
    ({"ood_rate": 1.5}, "(0, 1]"),
    ({"window": "soon"}, "invalid duration"),
    ({"k": 50, "buffer": 40}, "smaller than buffer"),
    ({"enabled": "yes"}, "true or false"),
])
def test_bad_values_are_refused_with_a_reason(settings: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        monitor_for(settings)
    assert reason in str(caught.value)


def test_a_corrupt_registry_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "profile.json").write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        monitor_for({"registry": str(tmp_path)})
    assert "profile" in str(caught.value)


# ---- inputs --------------------------------------------------------------------------------


def test_rows_are_read_from_both_protocols() -> None:
    v1 = request_rows({"instances": [[1, 2], [3, 4]]}, "v1")
    assert v1 is not None
    assert v1.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    named = request_rows({"instances": [{"b": 2, "a": 1}]}, "v1", ["a", "b"])
    assert named is not None
    assert named.tolist() == [[1.0, 2.0]]
    flat = request_rows({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                                     "data": [1, 2, 3, 4]}]}, "v2")
    assert flat is not None
    assert flat.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("body", [
    {"instances": [["a", "b"]]},
    {"instances": [[1, 2], [3]]},
    {"instances": [[1.0, float("nan")]]},
    {"instances": [[True, False]]},
    {"instances": "text"},
    {"inputs": [{"shape": [2, 2], "data": [1, 2, 3]}]},
])
def test_non_numeric_or_ragged_inputs_are_skipped(body: dict[str, Any]) -> None:
    version = "v2" if "inputs" in body else "v1"
    assert request_rows(body, version) is None


def test_labels_and_full_vectors_are_read_from_answers() -> None:
    labels, full = response_labels({"predictions": [[0.1, 0.9], [0.8, 0.2]]}, "v1")
    assert labels is not None
    assert labels.tolist() == [1, 0]
    assert full is True
    labels, full = response_labels({"predictions": [[0.0, 1.0]]}, "v1")
    assert full is False
    labels, _ = response_labels({"outputs": [{"name": "label", "shape": [2], "datatype": "INT64",
                                               "data": [3, 4]}]}, "v2")
    assert labels is not None
    assert labels.tolist() == [3, 4]


# ---- features ------------------------------------------------------------------------------


def test_odd_bodies_never_raise_and_leave_stream_fields_out(iris_registry: Path) -> None:
    monitor = monitor_for({"registry": str(iris_registry)})
    bodies: list[Any] = [{}, {"instances": []}, {"instances": [[1e308, -1e308, 0, 0]]},
                         {"instances": [{"x": 1}]}, {"inputs": "x"}, {"instances": [[[1, 2], [3]]]}]

    async def go() -> list[Event]:
        out = []
        for version in ("v1", "v2"):
            for body in bodies:
                event = Event({"event.id": "e", "client.key_id": "k", "api.model": "iris"})
                await monitor.observe(event, body, version)
                await monitor.observe_response(event, {"predictions": "odd"}, version)
                out.append(event)
        return out

    for event in asyncio.run(go()):
        assert f.SIMILARITY not in event
        assert f.REGISTERED in event


def test_exact_repeats_are_counted_and_set_aside(iris_registry: Path) -> None:
    monitor = monitor_for({"registry": str(iris_registry)})
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]
    events = feed(monitor, rows)
    last = events[-1]
    assert last[f.DISTINCT_INPUTS] == 3
    assert last[f.REPEAT_RATIO] == 0.25
    assert f.SIMILARITY not in events[2]  # the retry is not scored as a near-duplicate
    assert last[f.KNN_HITS] == 0


def test_training_rows_and_synthetic_rows_are_told_apart(iris_registry: Path) -> None:
    from sklearn.datasets import load_iris

    X, _ = load_iris(return_X_y=True)
    monitor = monitor_for({"registry": str(iris_registry)})
    members = feed(monitor, X[:6], key="member")[-1]
    assert members[f.MEMBERSHIP_HITS] == 6
    assert members[f.TRAINING_HIT_RATE] == 1.0
    assert members[f.MEMBERSHIP] is True
    rng = np.random.default_rng(0)
    noise = feed(monitor, rng.uniform(-20, 40, (8, 4)), key="noise")[-1]
    assert noise[f.OOD_RATE] == 1.0
    assert noise[f.OOD] is True
    assert noise[f.MEMBERSHIP_HITS] == 0


def test_near_duplicate_probing_raises_similarity_and_knn_hits(iris_registry: Path) -> None:
    monitor = monitor_for({"registry": str(iris_registry)})
    rng = np.random.default_rng(1)
    centre = np.array([6.0, 2.9, 4.5, 1.5])
    events = feed(monitor, centre + rng.normal(0, 0.01, (12, 4)), key="prober")
    assert events[-1][f.SIMILARITY] > 0.9
    assert events[-1][f.KNN_HITS] >= 3
    assert events[-1][f.STATEFUL] is True


def test_unregistered_models_learn_their_scale_from_traffic() -> None:
    monitor = monitor_for({})
    rng = np.random.default_rng(2)
    feed(monitor, rng.normal(0, 1, (70, 20)), key="honest", model="unknown")
    probes = feed(monitor, np.ones(20) + rng.normal(0, 0.001, (10, 20)), key="prober", model="unknown")
    assert probes[-1][f.REGISTERED] is False
    assert probes[-1][f.STATEFUL] is True
    assert f.OOD_RATE not in probes[-1]  # needs a registered training profile


def test_state_is_bounded_per_caller_and_in_callers(iris_registry: Path) -> None:
    monitor = monitor_for({"registry": str(iris_registry), "buffer": 16, "max_callers": 3, "k": 3})
    rng = np.random.default_rng(3)
    for key in ("a", "b", "c", "d"):
        feed(monitor, rng.uniform(4, 7, (40, 4)), key=key)
    assert len(monitor) == 3
    sizes = {state.buffer.shape for state in monitor._callers.values()}
    assert sizes == {(16, 4)}
    again = feed(monitor, [[5.0, 3.0, 1.5, 0.2]], key="a")[-1]
    assert again[f.QUERIES] == 1  # "a" was evicted and starts afresh


def test_normality_test_matches_scipy_shapiro() -> None:
    from scipy import stats

    from atlasgate.features.model_access.monitor import _shapiro

    values = np.random.default_rng(4).lognormal(1.0, 0.4, 50)
    w, p = _shapiro(values.tolist(), 50)
    reference = stats.shapiro(np.log(values))
    assert w == pytest.approx(float(reference.statistic), abs=1e-9)
    assert p == pytest.approx(float(reference.pvalue), abs=1e-9)
    assert _shapiro([2.0] * 30, 50) == (0.0, 0.0)  # identical distances: as far from normal as it gets


def test_text_inputs_get_minhash_similarity() -> None:
    monitor = monitor_for({})

    async def send(texts: list[str], key: str) -> list[Event]:
        events = []
        for i, text in enumerate(texts):
            event = Event({"event.id": f"{key}{i}", "client.key_id": key, "api.model": "reviews"})
            await monitor.observe(event, {"instances": [text]}, "v1")
            events.append(event)
        return events

    honest = [f"review number {i}: the {w} arrived {d} and works" for i, (w, d) in enumerate(
        [("kettle", "late"), ("lamp", "broken"), ("chair", "early"), ("phone", "on time"),
         ("desk", "scratched"), ("mug", "in pieces")])]
    probe = [f"this product is absolutely terrible and I want my money back{'!' * i}" for i in range(6)]
    plain = asyncio.run(send(honest, "honest"))
    probing = asyncio.run(send(probe, "prober"))
    assert max(e[f.SIMILARITY] for e in plain[1:]) < 0.5
    assert probing[-1][f.SIMILARITY] > 0.8
    assert probing[-1][f.STATEFUL] is True
    assert plain[-1][f.STATEFUL] is False


def test_training_rows_are_recognised_after_a_float32_round_trip(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    frame = pd.DataFrame(X[:200], columns=[f"f{i}" for i in range(X.shape[1])])
    frame["label"] = y[:200]
    with threadpool_limits(limits=1):
        register("cancer", frame, "label", tmp_path)
    monitor = monitor_for({"registry": str(tmp_path)})
    sent = X[:5].astype(np.float32).astype(float)
    assert not np.array_equal(sent, X[:5])
    members = feed(monitor, sent, model="cancer")[-1]
    assert members[f.MEMBERSHIP_HITS] == 5
    outsiders = feed(monitor, X[300:305], key="other", model="cancer")[-1]
    assert outsiders[f.MEMBERSHIP_HITS] == 0


def test_a_declared_huge_shape_allocates_nothing_large() -> None:
    monitor = monitor_for({})

    async def go() -> Event:
        event = Event({"event.id": "e", "client.key_id": "k", "api.model": "m",
                       "ml.instance_count": 1, "ml.feature_count": 10**12})
        await monitor.observe(event, {"inputs": [{"shape": [1, 10**12], "datatype": "FP32",
                                                  "data": [1.0]}]}, "v2")
        wide = Event({"event.id": "w", "client.key_id": "k2", "api.model": "m"})
        await monitor.observe(wide, {"instances": [[0.0] * 5000]}, "v1")
        return event

    event = asyncio.run(go())
    assert event[f.COMPUTE_WINDOW] == 10**12
    assert monitor.memory_bytes() < 1_000_000


def test_reload_picks_up_newly_registered_models(iris_registry: Path, tmp_path: Path) -> None:
    monitor = monitor_for({"registry": str(tmp_path)})
    assert feed(monitor, [[5.1, 3.5, 1.4, 0.2]])[-1][f.REGISTERED] is False
    config = build_config({"detectors": {"model_access": {"registry": str(iris_registry)}}},
                          ConfigOrigin(None, Path.cwd(), None))
    monitor.reload(config)
    assert feed(monitor, [[5.1, 3.5, 1.4, 0.2]])[-1][f.REGISTERED] is True
    bad = build_config({"detectors": {"model_access": {"buffer": 1}}}, ConfigOrigin(None, Path.cwd(), None))
    with pytest.raises(ConfigError):
        monitor.reload(bad)
    assert monitor.models  # the running settings are kept


def test_window_counts_forget_old_queries(iris_registry: Path) -> None:
    import time

    monitor = monitor_for({"registry": str(iris_registry), "window": "1s"})
    centre = np.array([6.0, 2.9, 4.5, 1.5])
    rng = np.random.default_rng(6)
    before = feed(monitor, centre + rng.normal(0, 0.01, (8, 4)), key="prober")[-1]
    assert before[f.KNN_HITS] >= 3
    time.sleep(2.1)
    after = feed(monitor, [[5.0, 3.4, 1.5, 0.2]], key="prober")[-1]
    assert after[f.QUERIES] == 1
    assert after[f.KNN_HITS] == 0
    assert after[f.INSTANCES_WINDOW] == 1
    assert after[f.STATEFUL] is False
