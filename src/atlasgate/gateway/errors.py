"""Error bodies in the shape each protocol's clients already parse."""

from __future__ import annotations

from typing import Any

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "timeout_error",
}


def error_body(protocol: str, status: int, message: str, code: str,
               param: str | None = None) -> dict[str, Any]:
    if protocol == "openai":
        return {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "server_error"),
                          "param": param, "code": code}}
    # KServe v1 and the Open Inference Protocol both use a plain "error" string.
    return {"error": message, "code": code}
