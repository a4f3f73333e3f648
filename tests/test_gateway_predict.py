"""Predict routes (KServe v1, Open Inference v2) and the constraints that act on scores."""

from __future__ import annotations

import orjson

from atlasgate.demo.upstream import SampleUpstreams
from gateway_harness import RunningGateway, http


def rows(samples: SampleUpstreams, n: int = 1, start: int = 0) -> list[list[float]]:
    return samples.classifier.X[start : start + n].astype(float).tolist()


def predict_v1(gw: RunningGateway, instances: list[list[float]]) -> tuple[int, dict]:  # type: ignore[type-arg]
    reply = http("POST", f"{gw.url}/v1/models/sample-digits:predict",
                 orjson.dumps({"instances": instances}))
    return reply.status, reply.json()


def test_v1_predict_returns_probability_vectors(gateway: RunningGateway, samples) -> None:  # type: ignore[no-untyped-def]
    status, body = predict_v1(gateway, rows(samples, 2))
    assert status == 200
    assert len(body["predictions"]) == 2
    assert len(body["predictions"][0]) == 10
    assert abs(sum(body["predictions"][0]) - 1) < 1e-6
    event = gateway.entries[-1]["event"]
    assert event["api.method"] == "predict"
    assert event["api.endpoint"] == "/v1/models/sample-digits:predict"
    assert event["ml.instance_count"] == 2
    assert event["ml.feature_count"] == 64


def test_v2_infer_round_trips(gateway: RunningGateway, samples) -> None:  # type: ignore[no-untyped-def]
    data = [v for row in rows(samples, 3) for v in row]
    reply = http("POST", f"{gateway.url}/v2/models/sample-digits/infer", orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [3, 64], "datatype": "FP32", "data": data}]}))
    assert reply.status == 200
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    assert outputs["probabilities"]["shape"] == [3, 10]
    assert gateway.entries[-1]["event"]["ml.instance_count"] == 3


def test_model_status_is_passed_through(gateway: RunningGateway) -> None:
    assert http("GET", f"{gateway.url}/v1/models/sample-digits").json()["ready"] is True
    assert http("GET", f"{gateway.url}/v2/models/sample-digits").status == 200


def test_unknown_predict_model_is_404(gateway: RunningGateway, samples) -> None:  # type: ignore[no-untyped-def]
    reply = http("POST", f"{gateway.url}/v1/models/nope:predict",
                 orjson.dumps({"instances": rows(samples)}))
    assert reply.status == 404
    assert reply.json()["code"] == "model_not_found"


def test_missing_instances_is_400_with_reason(gateway: RunningGateway) -> None:
    reply = http("POST", f"{gateway.url}/v1/models/sample-digits:predict", b'{"rows": []}')
    assert reply.status == 400
    assert "instances" in reply.json()["error"]


def infer_v2(gw: RunningGateway, tensor: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    reply = http("POST", f"{gw.url}/v2/models/sample-digits/infer",
                 orjson.dumps({"inputs": [{"name": "input-0", "datatype": "FP32", **tensor}]}))
    return reply.status, reply.json()


def test_a_v2_shape_that_does_not_describe_its_data_is_refused_and_logged(
        gateway: RunningGateway) -> None:
    for tensor, reason in [
        ({"shape": [1, 2**32, 2**32], "data": [0] * 64}, "declares 18446744073709551616 elements"),
        ({"shape": [2**63, 64], "data": [0] * 64}, "at most"),
        ({"shape": [True, 64], "data": [0] * 64}, "non-negative integers"),
        ({"shape": [-1, 64], "data": [0] * 64}, "non-negative integers"),
        ({"shape": [2, 64], "data": [0] * 64}, "holds 64 values but inputs[0].shape declares 128"),
        ({"shape": [3, 64], "data": [[0] * 64] * 2}, "holds 2 rows"),
    ]:
        status, body = infer_v2(gateway, tensor)
        assert (status, body["code"]) == (400, "invalid_request"), tensor
        assert reason in body["error"]
        assert gateway.entries[-1]["outcome"]["error"] == "invalid_request"


def test_a_refused_shape_leaves_the_callers_next_requests_logged(gateway: RunningGateway,
                                                                  samples) -> None:  # type: ignore[no-untyped-def]
    infer_v2(gateway, {"shape": [1, 2**32, 2**32], "data": [0] * 64})
    logged = len(gateway.entries)
    status, _ = infer_v2(gateway, {"shape": [1, 64], "data": rows(samples)[0]})
    assert status == 200
    assert len(gateway.entries) == logged + 1
    assert gateway.entries[-1]["event"]["ml.feature_count"] == 64


def _rules(*rules: dict) -> dict:  # type: ignore[type-arg]
    return {"include_defaults": False, "rules": list(rules)}


def test_top1_constraint_keeps_shape_and_reveals_only_the_label(make_gateway, samples) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy=_rules({
        "id": "labels-only", "condition": 'api.method == "predict"', "action": "CONSTRAIN",
        "constraint": {"top1": True}, "atlas": ["AML.T0024.002"]}))
    status, body = predict_v1(gw, rows(samples, 2))
    assert status == 200
    for vector in body["predictions"]:
        assert sorted(vector) == [0.0] * 9 + [1.0]
    assert gw.entries[-1]["outcome"]["modified"] == ["top1"]
    assert gw.entries[-1]["decision"]["action"] == "CONSTRAIN"


def test_round_constraint_applies_to_v2_outputs(make_gateway, samples) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy=_rules({
        "id": "coarse", "condition": 'api.method == "predict"', "action": "CONSTRAIN",
        "constraint": {"round": 1}}))
    data = [v for row in rows(samples, 2) for v in row]
    reply = http("POST", f"{gw.url}/v2/models/sample-digits/infer", orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "data": data}]}))
    probabilities = next(o for o in reply.json()["outputs"] if o["name"] == "probabilities")
    assert all(round(v, 1) == v for v in probabilities["data"])


def test_request_count_escalates_from_allow_to_log_to_constrain(make_gateway, samples) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy=_rules(
        {"id": "watch", "condition": 'api.method == "predict" && api.request_count > 3',
         "action": "LOG", "atlas": ["AML.T0024.002"]},
        {"id": "limit", "condition": 'api.method == "predict" && api.request_count > 6',
         "action": "CONSTRAIN", "constraint": {"top1": True}, "atlas": ["AML.T0024.002"]},
    ))
    actions = []
    for i in range(8):
        predict_v1(gw, rows(samples, 1, i))
        actions.append(gw.entries[-1]["decision"]["action"])
    assert actions == ["ALLOW"] * 3 + ["LOG"] * 3 + ["CONSTRAIN"] * 2
    counts = [e["event"]["api.request_count"] for e in gw.entries[-8:]]
    assert counts == list(range(1, 9))
    assert gw.entries[-1]["event"]["api.request_rate"] > 1


def test_throttle_answers_429_with_retry_after(make_gateway, samples) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy=_rules({
        "id": "slow-down", "condition": 'api.method == "predict" && api.request_count > 2',
        "action": "CONSTRAIN", "constraint": {"throttle": "30s"}, "atlas": ["AML.T0034"]}))
    statuses = [http("POST", f"{gw.url}/v1/models/sample-digits:predict",
                     orjson.dumps({"instances": rows(samples)})) for _ in range(3)]
    assert [r.status for r in statuses] == [200, 200, 429]
    assert statuses[-1].headers["retry-after"] == "30"
    assert gw.entries[-1]["outcome"]["status"] == 429


def test_noise_keeps_the_label_hides_the_scores_and_is_repeatable(make_gateway, samples) -> None:  # type: ignore[no-untyped-def]
    plain = samples.classifier.predict_proba(rows(samples, 3)).tolist()
    gw = make_gateway(policy=_rules({
        "id": "blur", "condition": 'api.method == "predict"', "action": "CONSTRAIN",
        "constraint": {"noise": 0.05}, "atlas": ["AML.T0024.002"]}))
    first = predict_v1(gw, rows(samples, 3))[1]["predictions"]
    again = predict_v1(gw, rows(samples, 3))[1]["predictions"]
    assert first == again  # asking again does not average the noise away
    for clean, noisy in zip(plain, first, strict=True):
        assert noisy != clean
        assert noisy.index(max(noisy)) == clean.index(max(clean))
        assert abs(sum(noisy) - 1) < 1e-6
