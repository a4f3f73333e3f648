"""Two output constraints for model access: calibrated noise and throttling.

``noise`` (ATLAS mitigation AML.M0002, passive output obfuscation) perturbs each
probability vector while keeping its top-1 label, so honest callers get the same
answer and an extraction or membership attack learns less from the confidences.
The noise is a pure function of the secret and the scores: asking the same
question again returns the same noisy answer, so averaging repeats gains nothing.

``throttle`` (AML.M0004, restrict number of queries) answers 429 with a
``Retry-After`` header instead of calling the model.

Each constraint is a validator (run when the policy loads) and a combine rule (the
stricter of two values wins), in the shape of ``policy.constraints.CONSTRAINTS``,
plus an apply function over parsed bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

import numpy as np

from atlasgate.config.durations import parse_duration

MAX_NOISE = 0.5
MAX_THROTTLE = 3600.0


def validate_noise(value: Any) -> float:
    """Noise scale: the standard deviation added to each probability, in (0, 0.5]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_NOISE:
        raise ValueError(f"must be a number in (0, {MAX_NOISE}] (std of noise per probability), "
                         f"got {value!r}")
    return float(value)


def validate_throttle(value: Any) -> float:
    """Retry-After seconds for a throttled caller (a duration such as '30s')."""
    seconds = parse_duration(value)
    if seconds > MAX_THROTTLE:
        raise ValueError(f"a throttle above {MAX_THROTTLE:g}s is a block; use BLOCK")
    return seconds


# name -> (validator, combine into the stricter value); same shape as the policy registry
CONSTRAINTS = {
    "noise": (validate_noise, max),
    "throttle": (validate_throttle, max),
}


def noisy_scores(scores: list[float], scale: float, secret: bytes) -> list[float]:
    """One probability vector with noise added, renormalised, top-1 label kept."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size < 2 or not np.all(np.isfinite(values)):
        return scores
    digest = hmac.new(secret, np.round(values, 12).tobytes(), hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    best = int(values.argmax())
    noisy = np.clip(values + rng.normal(0.0, scale, values.size), 1e-6, None)
    top = int(noisy.argmax())
    if top != best:
        noisy[best], noisy[top] = noisy[top], noisy[best]
    noisy /= noisy.sum()
    return [float(v) for v in noisy]


def _is_vector(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 1
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))


def apply_noise(body: dict[str, Any], scale: float, secret: bytes) -> list[str]:
    """Add noise to every score vector of a v1 or v2 predict response, in place."""
    what = f"noise={scale:g}"
    predictions = body.get("predictions")
    if isinstance(predictions, list):
        changed = False
        for index, row in enumerate(predictions):
            if _is_vector(row):
                predictions[index] = noisy_scores(row, scale, secret)
                changed = True
        return [what] if changed else []
    changed = False
    for output in body.get("outputs") or ():
        if not isinstance(output, dict) or not str(output.get("datatype", "")).startswith("FP"):
            continue
        shape, data = output.get("shape"), output.get("data")
        if not (isinstance(shape, list) and len(shape) == 2 and isinstance(data, list) and data):
            continue
        width = shape[1]
        if not isinstance(width, int) or width < 2 or isinstance(data[0], list):
            continue
        rows = [data[i: i + width] for i in range(0, len(data), width)]
        output["data"] = [v for row in rows for v in noisy_scores(row, scale, secret)]
        changed = True
    return [what] if changed else []


def throttle_response(seconds: float, message: str = "too many requests for this model"
                      ) -> tuple[int, list[tuple[bytes, bytes]], dict[str, Any]]:
    """Status, headers and JSON body of a throttled predict request."""
    retry = max(1, math.ceil(seconds))
    body = {"error": f"{message}; retry after {retry}s", "code": "throttled", "retry_after": retry}
    return 429, [(b"retry-after", str(retry).encode())], body
