"""The noise and throttle constraints, and the shipped model-access policy pack."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import yaml

from atlasgate.features.model_access.constraints import (
    CONSTRAINTS,
    apply_noise,
    noisy_scores,
    throttle_response,
    validate_noise,
    validate_throttle,
)

SECRET = b"model-access-test-secret"


def test_noise_keeps_the_label_and_a_distribution() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.dirichlet(np.ones(10)).tolist()
        noisy = noisy_scores(scores, 0.1, SECRET)
        assert int(np.argmax(noisy)) == int(np.argmax(scores))
        assert sum(noisy) == pytest.approx(1.0)
        assert min(noisy) > 0
        assert noisy != scores


def test_noise_is_the_same_for_the_same_answer_so_averaging_gains_nothing() -> None:
    scores = [0.1, 0.6, 0.3]
    assert noisy_scores(scores, 0.05, SECRET) == noisy_scores(list(scores), 0.05, SECRET)
    assert noisy_scores(scores, 0.05, SECRET) != noisy_scores(scores, 0.05, b"another secret")


def test_noise_reduces_what_confidences_reveal() -> None:
    rng = np.random.default_rng(1)
    original = rng.dirichlet(np.ones(5), size=300)
    noisy = np.array([noisy_scores(row.tolist(), 0.2, SECRET) for row in original])
    error = np.abs(noisy - original).mean()
    assert error > 0.05
    assert (noisy.argmax(axis=1) == original.argmax(axis=1)).all()


def test_noise_applies_to_v1_and_v2_bodies() -> None:
    v1 = {"predictions": [[0.2, 0.8], [0.9, 0.1]]}
    assert apply_noise(v1, 0.1, SECRET) == ["noise=0.1"]
    assert v1["predictions"][0] != [0.2, 0.8]
    v2 = {"outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [2, 2],
                       "data": [0.2, 0.8, 0.9, 0.1]},
                      {"name": "label", "datatype": "INT64", "shape": [2], "data": [1, 0]}]}
    assert apply_noise(v2, 0.1, SECRET) == ["noise=0.1"]
    assert len(v2["outputs"][0]["data"]) == 4
    assert v2["outputs"][1]["data"] == [1, 0]
    assert apply_noise({"predictions": [1, 0]}, 0.1, SECRET) == []


@pytest.mark.parametrize("value", [0, -0.1, 0.9, True, "0.1"])
def test_noise_values_are_validated(value: object) -> None:
    with pytest.raises(ValueError, match="must be a number"):
        validate_noise(value)


def test_throttle_answers_429_with_retry_after() -> None:
    assert validate_throttle("30s") == 30.0
    with pytest.raises(ValueError, match="use BLOCK"):
        validate_throttle("2h")
    status, headers, body = throttle_response(2.2)
    assert status == 429
    assert (b"retry-after", b"3") in headers
    assert body["code"] == "throttled"
    assert body["retry_after"] == 3


def test_constraints_combine_to_the_stricter_value() -> None:
    assert CONSTRAINTS["noise"][1](0.05, 0.1) == 0.1
    assert CONSTRAINTS["throttle"][1](5.0, 30.0) == 30.0


def test_every_shipped_model_access_rule_names_atlas_techniques() -> None:
    text = (resources.files("atlasgate.policy") / "defaults" / "model_access.yaml").read_text()
    rules = yaml.safe_load(text)["rules"]
    techniques = {t for rule in rules for t in rule["atlas"]}
    assert all(rule["atlas"] for rule in rules)
    assert {"AML.T0024.002", "AML.T0024.000", "AML.T0024.001", "AML.T0043", "AML.T0015",
            "AML.T0013", "AML.T0014", "AML.T0034", "AML.T0029"} <= techniques
    assert {rule["action"] for rule in rules} == {"LOG", "CONSTRAIN", "REVIEW", "BLOCK"}
