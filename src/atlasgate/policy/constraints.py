"""CONSTRAIN: the modifications a policy can make to a request or a response.

Each constraint is validated when the policy loads (so a typo fails at start with
its line) and applied by pure functions over parsed JSON bodies. Several matching
CONSTRAIN rules combine: the strictest value of each constraint wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atlasgate.features.model_access.constraints import CONSTRAINTS as MODEL_ACCESS_CONSTRAINTS

Body = dict[str, Any]


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {value!r}")
    return value


def _true(value: Any) -> bool:
    if value is not True:
        raise ValueError(f"must be true, got {value!r}")
    return True


def _delay(value: Any) -> float:
    from atlasgate.config.durations import parse_duration

    seconds = parse_duration(value)
    if seconds > 60:
        raise ValueError("a delay above 60s would hold connections open; use REVIEW or BLOCK")
    return seconds


def _redact(value: Any) -> str:
    if value != "findings":
        raise ValueError("redact takes 'findings' (the spans the detectors reported)")
    return "findings"


# name -> (validator, combine two values into the stricter one)
CONSTRAINTS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    "cap_max_tokens": (_positive_int, min),
    "drop_logprobs": (_true, lambda a, b: True),
    "top1": (_true, lambda a, b: True),
    "round": (_non_negative_int, min),
    "delay": (_delay, max),
    "redact": (_redact, lambda a, b: a),
    **MODEL_ACCESS_CONSTRAINTS,  # noise (AML.M0002), throttle (AML.M0004)
}


def validate(constraint: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised constraint or raise ValueError naming the bad entry."""
    normalised = {}
    for name, value in constraint.items():
        if name not in CONSTRAINTS:
            known = ", ".join(sorted(CONSTRAINTS))
            raise ValueError(f"unknown constraint {name!r}; known constraints: {known}")
        try:
            normalised[name] = CONSTRAINTS[name][0](value)
        except ValueError as exc:
            raise ValueError(f"constraint {name}: {exc}") from None
    return normalised


def combine(constraints: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for constraint in constraints:
        for name, value in constraint.items():
            merged[name] = CONSTRAINTS[name][1](merged[name], value) if name in merged else value
    return merged


# --- requests ----------------------------------------------------------------------------

def constrain_openai_request(body: Body, constraint: dict[str, Any]) -> list[str]:
    """Modify an OpenAI request body in place; return what was changed, for the log."""
    changed = []
    cap = constraint.get("cap_max_tokens")
    if cap is not None:
        for key in ("max_tokens", "max_completion_tokens"):
            current = body.get(key)
            if isinstance(current, int) and current <= cap:
                continue
            if key in body or key == "max_tokens":
                body[key] = cap
                changed.append(f"{key}={cap}")
    if constraint.get("drop_logprobs"):
        for key in ("logprobs", "top_logprobs"):
            if body.pop(key, None) not in (None, False):
                changed.append(f"dropped {key}")
    return changed


# --- responses ---------------------------------------------------------------------------

def constrain_openai_response(body: Body, constraint: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    choices = body.get("choices")
    if constraint.get("drop_logprobs") and isinstance(choices, list):  # else nothing to drop
        for choice in choices:
            if isinstance(choice, dict) and choice.get("logprobs") is not None:
                choice["logprobs"] = None
                if "dropped logprobs" not in changed:
                    changed.append("dropped logprobs")
    return changed


def _is_score_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 1
        and all(isinstance(v, float | int) and not isinstance(v, bool) for v in value)
    )


def _one_hot(scores: list[float]) -> list[float]:
    best = max(range(len(scores)), key=scores.__getitem__)
    return [1.0 if i == best else 0.0 for i in range(len(scores))]


def _reduce(value: Any, top1: bool, digits: int | None) -> Any:
    """Apply top-1 / rounding to every score vector inside a prediction."""
    if _is_score_vector(value):
        if top1:
            return _one_hot(value)
        if digits is not None:
            return [round(float(v), digits) for v in value]
        return value
    if isinstance(value, list):
        return [_reduce(v, top1, digits) for v in value]
    if isinstance(value, dict):
        return {k: _reduce(v, top1, digits) for k, v in value.items()}
    if isinstance(value, float) and digits is not None:
        return round(value, digits)
    return value


def constrain_predict_response(body: Body, constraint: dict[str, Any]) -> list[str]:
    """Top-1 (one-hot, shape kept so clients still parse) or rounded scores, v1 and v2."""
    top1 = bool(constraint.get("top1"))
    digits = constraint.get("round")
    if not top1 and digits is None:
        return []
    what = "top1" if top1 else f"round={digits}"
    if "predictions" in body:
        body["predictions"] = _reduce(body["predictions"], top1, digits)
        return [what]
    outputs = body.get("outputs")
    if isinstance(outputs, list):
        for output in outputs:
            if not isinstance(output, dict) or not str(output.get("datatype", "")).startswith("FP"):
                continue
            data, shape = output.get("data"), output.get("shape")
            if isinstance(data, list) and isinstance(shape, list) and len(shape) == 2 and data:
                width = shape[1]
                if all(not isinstance(v, list) for v in data) and width > 1:
                    rows = [data[i : i + width] for i in range(0, len(data), width)]
                    output["data"] = [v for row in _reduce(rows, top1, digits) for v in row]
                    continue
            output["data"] = _reduce(data, top1, digits)
        return [what]
    return []
