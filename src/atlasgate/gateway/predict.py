"""Predict routes in the protocols model servers speak: KServe v1 and Open Inference v2."""

from __future__ import annotations

import orjson

from atlasgate import event as ev
from atlasgate.features.model_access.constraints import apply_noise
from atlasgate.gateway import normalize
from atlasgate.gateway.flow import Exchange
from atlasgate.gateway.http import send_bytes
from atlasgate.gateway.upstream import UpstreamError, UpstreamResponse
from atlasgate.policy import constraints

PROTOCOLS = {
    "v1": (normalize.predict_v1_fields, "/v1/models/{model}:predict"),
    "v2": (normalize.predict_v2_fields, "/v2/models/{model}/infer"),
}


async def predict(x: Exchange, name: str, version: str) -> None:
    fields_of, path = PROTOCOLS[version]
    await x.authenticate()
    body = await x.read_json()
    upstream = x.snapshot.predict_by_name.get(name)
    if upstream is None:
        await x.model_not_found(f"model '{name}' is not served by this gateway")
    try:
        fields = fields_of(body)
    except normalize.BadRequest as exc:
        await x.reject(exc.status, exc.message, exc.code, rule=f"input.{exc.code}", param=exc.param)
    await x.describe(name, fields)
    x.event[ev.API_UPSTREAM] = upstream.name
    monitor = x.gateway.model_access
    await x.detect("model_access", monitor.observe(x.event, body, version))
    await x.decide()
    decision = await x.enforce()
    url = upstream.base_url + path.format(model=upstream.upstream_model or name)
    try:
        response = await x.gateway.upstream.open(
            "POST", url, orjson.dumps(body), {"content-type": "application/json"},
            upstream.timeout, upstream.connect_timeout,
            max_bytes=x.snapshot.config.limits.max_response_bytes)
    except UpstreamError as exc:
        await x.reject(exc.status, exc.message, exc.code)
        return
    assert isinstance(response, UpstreamResponse)
    payload = response.body
    if response.status == 200:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            await x.detect("model_access", monitor.observe_response(x.event, data, version))
            response_decision = await x.decide("response")
            constraint = constraints.combine([decision.constraints, response_decision.constraints])
            changed = []
            if constraint.get("noise") and not constraint.get("top1"):
                changed += apply_noise(data, constraint["noise"], x.gateway.noise_secret)
            changed += constraints.constrain_predict_response(data, constraint)
            if changed:
                x.modified += changed
                payload = orjson.dumps(data)
    await x.record(response.status, upstream_ms=response.latency_ms)
    await send_bytes(x.send, response.status, payload,
                     [(b"content-type", b"application/json"), *x.decision_headers()])


async def model_status(x: Exchange, name: str, version: str) -> None:
    """Readiness/metadata of a served model, passed through from its server."""
    await x.authenticate()
    upstream = x.snapshot.predict_by_name.get(name)
    if upstream is None:
        await x.model_not_found(f"model '{name}' is not served by this gateway")
    await x.admit(name)
    remote = upstream.upstream_model or name
    url = upstream.base_url + (f"/v1/models/{remote}" if version == "v1" else f"/v2/models/{remote}")
    try:
        response = await x.gateway.upstream.open(
            "GET", url, None, {}, upstream.timeout, upstream.connect_timeout,
            max_bytes=x.snapshot.config.limits.max_response_bytes)
    except UpstreamError as exc:
        await x.reject(exc.status, exc.message, exc.code)
        return
    assert isinstance(response, UpstreamResponse)
    await x.record(response.status, upstream_ms=response.latency_ms)
    await send_bytes(x.send, response.status, response.body,
                     [(b"content-type", b"application/json"), *x.decision_headers()])
