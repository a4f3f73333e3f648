"""The ASGI application: routing and lifespan. Each protocol lives in its own module."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from typing import NoReturn

from atlasgate.gateway import admin, datasets, openai, predict
from atlasgate.gateway.errors import error_body
from atlasgate.gateway.flow import Exchange, Rejected
from atlasgate.gateway.http import Message, Receive, Scope, Send, send_json
from atlasgate.gateway.runtime import Gateway

log = logging.getLogger("atlasgate")

# Model names such as "org/model" (vLLM) and "llama3:8b" (Ollama): non-empty segments
# joined by '/', any ':' inside; KServe v1 predict is the name plus ":predict".
_NAME_V1 = r"[^/]+(?:/[^/]+)*"
_PREDICT_V1 = re.compile(rf"^/v1/models/({_NAME_V1}):predict$")
_MODEL_V1 = re.compile(rf"^/v1/models/({_NAME_V1})$")
# v2 names stay a single segment: the Open Inference Protocol puts /versions/{v} and
# /ready after the name, which a '/' in the name would make ambiguous.
_PREDICT_V2 = re.compile(r"^/v2/models/([^/]+)/infer$")
_MODEL_V2 = re.compile(r"^/v2/models/([^/]+)$")
_DATASET = re.compile(r"^/v1/datasets/([A-Za-z0-9._-]+)/batches$")
_REVIEW = re.compile(r"^/admin/reviews/([0-9a-f]+)/(approve|deny)$")


class GatewayApp:
    def __init__(self, gateway: Gateway, *, handle_sighup: bool = True) -> None:
        self.gateway = gateway
        self.handle_sighup = handle_sighup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:
                    log.error("gateway failed to start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                if self.handle_sighup:
                    loop = asyncio.get_running_loop()
                    loop.add_signal_handler(signal.SIGHUP, self.gateway.reload)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.handle_sighup:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
                await self.gateway.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        verb: str = scope["method"]
        protocol = "openai" if path.startswith("/v1/") and ":predict" not in path else "predict"
        if verb == "HEAD":
            verb, send = "GET", _without_body(send)
        self.gateway.request_started()
        try:
            await self.route(scope, receive, send, path, verb, protocol)
        except Rejected:
            pass
        except Exception:
            log.exception("unhandled error on %s %s", verb, path)
            # If the response had already started there is nothing more to say.
            with contextlib.suppress(Exception):
                await send_json(send, 500, error_body(protocol, 500, "internal gateway error",
                                                      "internal_error"))
        finally:
            self.gateway.request_ended()

    async def route(self, scope: Scope, receive: Receive, send: Send, path: str, verb: str,
                    protocol: str) -> None:
        gw = self.gateway

        def exchange(method: str, proto: str = protocol) -> Exchange:
            return Exchange(gw, scope, receive, send, proto, method)

        if path in openai.ROUTES:
            method, upstream_path, fields_of = openai.ROUTES[path]
            if verb != "POST":
                await _not_allowed(exchange(method), "POST")
            return await openai.generate(exchange(method), upstream_path, fields_of)
        for pattern, version in ((_PREDICT_V1, "v1"), (_PREDICT_V2, "v2")):
            if m := pattern.match(path):
                if verb != "POST":
                    await _not_allowed(exchange("predict", "predict"), "POST")
                return await predict.predict(exchange("predict", "predict"), m.group(1), version)
        if verb == "GET":
            if path == "/v1/models":
                return await openai.list_models(exchange("models"))
            if m := _MODEL_V1.match(path):
                name = m.group(1)
                if name in gw.snapshot.predict_by_name:
                    return await predict.model_status(exchange("models", "predict"), name, "v1")
                return await openai.retrieve_model(exchange("models"), name)
            if m := _MODEL_V2.match(path):
                return await predict.model_status(exchange("models", "predict"), m.group(1), "v2")
            if path in ("/healthz", "/v2/health/ready", "/v2/health/live"):
                return await send_json(send, 200, {"status": "ok",
                                                   "policy_revision": gw.snapshot.policy.revision})
            if path == "/admin/reviews":
                return await admin.list_reviews(exchange("admin", "admin"))
        if verb == "POST":
            if m := _DATASET.match(path):
                return await datasets.ingest(exchange("ingest", "predict"), m.group(1))
            if path == "/admin/reload":
                return await admin.reload(exchange("admin", "admin"))
            if m := _REVIEW.match(path):
                return await admin.resolve_review(exchange("admin", "admin"), m.group(1),
                                                   m.group(2))
        await exchange("unrouted").reject(404, f"no route for {scope['method']} {path}",
                                          "not_found", rule="input.no_route")


async def _not_allowed(x: Exchange, allowed: str) -> NoReturn:
    await x.reject(405, f"method {x.scope['method']} not allowed; use {allowed}",
                   "method_not_allowed",
                   rule="input.method_not_allowed", headers=[(b"allow", allowed.encode())])


def _without_body(send: Send) -> Send:
    """HEAD is answered as GET with the same headers (Content-Length included) and no body."""
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)
    return send_head
