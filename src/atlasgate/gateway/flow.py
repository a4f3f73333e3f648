"""One request in flight: the stages every route shares, in the order of the design.

authenticate → read and parse → Event → windowed features → policy → enforce →
upstream → response policy → durable log entry → response. Each route supplies
only what is protocol-specific (how to build the Event, how to call upstream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from atlasgate import event as ev
from atlasgate.auth import Identity
from atlasgate.errors import AtlasGateError, PolicyError
from atlasgate.event import Event
from atlasgate.gateway.atlas_refs import references
from atlasgate.gateway.enforcement import IdentityAction
from atlasgate.gateway.errors import error_body
from atlasgate.gateway.http import (
    BadRequest,
    Receive,
    Scope,
    Send,
    header,
    parse_json_object,
    read_body,
    send_json,
)
from atlasgate.gateway.normalize import base_event
from atlasgate.gateway.runtime import Gateway, Snapshot
from atlasgate.policy.constraints import combine
from atlasgate.policy.constraints import validate as validate_constraint
from atlasgate.policy.decision import Action, Decision

log = logging.getLogger("atlasgate")

T = TypeVar("T")


class Rejected(Exception):
    """Ends a request early with an error response; the decision is already recorded."""


class Exchange:
    """The state of one request; created per request, never shared."""

    def __init__(self, gateway: Gateway, scope: Scope, receive: Receive, send: Send,
                 protocol: str, method: str) -> None:
        self.gateway = gateway
        self.snapshot: Snapshot = gateway.snapshot  # one snapshot for the whole request
        self.scope = scope
        self.receive = receive
        self.send = send
        self.protocol = protocol
        self.method = method
        self.identity: Identity | None = None
        self.event: Event = base_event(scope, None, method, None)
        self.decision: Decision | None = None
        self.response_decision: Decision | None = None
        self.modified: list[str] = []
        self.review: dict[str, str] | None = None
        self.findings: list[dict[str, Any]] = []
        self.response_started = False
        # Response-phase fields (the answer's text and detections) overlay the request
        # Event for response rules without overwriting what the request looked like.
        self.response_fields: dict[str, Any] = {}
        self.started = time.perf_counter()

    # --- stages -----------------------------------------------------------------------

    async def authenticate(self, admin: bool = False) -> Identity:
        identity = self.snapshot.keys.authenticate(header(self.scope, b"authorization"))
        if identity is None:
            has_header = header(self.scope, b"authorization") is not None
            message = ("invalid API key" if has_header else
                       "missing API key: send 'Authorization: Bearer <key>'")
            await self.reject(401, message, "invalid_api_key", rule="auth.key")
        assert identity is not None
        if admin and not identity.admin:
            self.identity = identity
            await self.reject(403, "this route needs an admin key", "admin_required",
                              rule="auth.admin")
        self.identity = identity
        self.event.update({ev.CLIENT_KEY_ID: identity.key_id, ev.CLIENT_TENANT: identity.tenant,
                           ev.USER_ID: identity.user})
        return identity

    async def read_json(self) -> dict[str, Any]:
        limits = self.snapshot.config.limits
        try:
            body = await read_body(self.scope, self.receive, limits.max_body_bytes,
                                   limits.body_timeout)
            self.event[ev.API_BODY_BYTES] = len(body)
            return parse_json_object(body, limits.max_json_depth)
        except BadRequest as exc:
            await self.reject(exc.status, exc.message, exc.code, rule=f"input.{exc.code}",
                              param=exc.param)

    async def describe(self, model: str | None, fields: dict[str, Any]) -> None:
        self.event.update(fields)
        self.event[ev.API_MODEL] = model
        await self.gateway.windows.enrich(self.event, time.time())

    async def admit(self, model: str | None, fields: dict[str, Any] | None = None) -> Decision:
        """Describe, decide and enforce for a request with no detectors of its own."""
        await self.describe(model, fields or {})
        await self.decide()
        return await self.enforce()

    async def model_not_found(self, message: str) -> NoReturn:
        await self.reject(404, message, "model_not_found", rule="input.model_not_found",
                          param="model" if self.protocol == "openai" else None)

    async def detect(self, detector: str, work: Awaitable[T]) -> T | None:
        """Run a detector stage; an exception follows ``fail_mode`` instead of crashing."""
        try:
            return await work
        except Exception as exc:
            log.exception("detector %s failed", detector)
            if self.snapshot.config.fail_mode == "closed":
                await self.reject(503, f"detector {detector} failed; request refused "
                                  "(fail_mode=closed)", "detector_error", rule="detector.error")
            self.event[f"detection.{detector}.error"] = type(exc).__name__
            return None

    async def decide(self, phase: str = "request") -> Decision:
        """Run the policy; a failing rule follows ``fail_mode`` instead of crashing."""
        policy = self.snapshot.policy
        decision_id = self.event[ev.EVENT_ID]
        if phase == "request" and self.snapshot.sigma is not None:
            await self.detect("sigma", self.correlate())
        event = self.event
        if phase == "response" and self.response_fields:
            event = Event({**self.event.flat(), **self.response_fields})
        try:
            decision = policy.decide(event, phase, decision_id,
                                     skip_failing=self.snapshot.config.fail_mode == "open")
            for failure in decision.failed:
                log.error("policy evaluation failed: %s", failure)
            if phase == "request":
                decision = self._apply_identity_action(decision)
        except PolicyError as exc:
            log.error("policy evaluation failed: %s", exc)
            closed = self.snapshot.config.fail_mode == "closed"
            decision = Decision(
                decision_id, Action.BLOCK if closed else Action.ALLOW, "policy.error",
                (f"{exc} (fail_mode={self.snapshot.config.fail_mode})",),
                policy_revision=policy.revision, phase=phase,
            )
        if phase == "request":
            self.decision = decision
        else:
            self.response_decision = decision
        self.event.add_techniques(decision.techniques)
        return decision

    async def correlate(self) -> None:
        """Run Sigma rules on the enriched Event; alerts go to the log, actions to the identity."""
        engine = self.snapshot.sigma
        assert engine is not None
        now = time.time()
        if self.gateway.shared_state:
            matches = await engine.evaluate_async(self.event, now)
        else:
            matches = engine.evaluate(self.event, now)
        if not matches:
            return
        self.event["sigma.rules"] = [m.rule_id for m in matches]
        for match in matches:
            self.event.add_techniques(match.techniques)
            if match.action and match.action.get("action"):
                self.gateway.identity_actions.put(self.event.caller_key(), IdentityAction(
                    Action.parse(match.action["action"]),
                    validate_constraint(match.action.get("constraint") or {}),
                    now + float(match.action.get("for") or 600), f"sigma:{match.rule_id}",
                    match.techniques))
        for match in matches:
            alert = match.alert_fields()
            alert[ev.ATLAS_PLAYBOOKS] = references(tuple(match.techniques))[1]
            await self.append({"kind": "alert", "decision_id": self.event[ev.EVENT_ID],
                               "time": self.event[ev.TIMESTAMP], "alert": alert})

    def _apply_identity_action(self, decision: Decision) -> Decision:
        """An action a detection put on this caller applies when it is stronger than the policy's."""
        held = self.gateway.identity_actions.get(self.event.caller_key(), time.time())
        if held is None or held.action < decision.action:
            return decision
        constraints = combine([decision.constraints, held.constraint])
        return replace(decision, action=max(held.action, decision.action), rule=held.rule,
                       reasons=(*decision.reasons, f"{held.rule}: action on this identity until "
                                f"{time.strftime('%H:%M:%S', time.gmtime(held.until))}Z"),
                       techniques=tuple(dict.fromkeys((*decision.techniques, *held.techniques))),
                       constraints=constraints, matched=(*decision.matched, held.rule))

    async def enforce(self) -> Decision:
        """BLOCK rejects; REVIEW waits for a verdict; returns the decision to apply."""
        decision = self.decision
        assert decision is not None
        if decision.action is Action.REVIEW:
            settings = self.snapshot.config.review
            try:
                held, outcome = await self.unless_client_leaves(self.gateway.reviews.hold(
                    decision.id, self._review_summary(decision), settings.timeout,
                    settings.default))
            except asyncio.CancelledError:
                # The gateway is stopping: the hold ends undecided and the log says so
                # (an append is queued before it is awaited, so the closing log keeps it).
                self.review = {"verdict": "WITHDRAWN", "by": "gateway_shutdown"}
                with contextlib.suppress(Exception):
                    await self.record(503, error="gateway_shutdown")
                raise
            if not held or outcome is None:
                # Nobody waits for the answer any more: the hold is withdrawn, not decided.
                self.review = {"verdict": "WITHDRAWN", "by": "client_disconnected"}
                await self.reject(499, "the client closed the connection while the request "
                                  "was held for review", "client_disconnected")
            verdict, reviewer = outcome
            self.review = {"verdict": verdict, "by": reviewer}
            if verdict != "ALLOW":
                await self.reject(403, f"request denied on review ({reviewer}): "
                                  f"{'; '.join(decision.reasons)}", "review_denied")
        if decision.action is Action.BLOCK:
            await self.reject(403, "request blocked by policy: " + "; ".join(decision.reasons),
                              "policy_blocked")
        throttle = decision.constraints.get("throttle")
        if throttle:
            retry = max(1, math.ceil(throttle))
            await self.reject(429, f"too many requests; retry after {retry}s ({decision.rule})",
                              "rate_limited", headers=[(b"retry-after", str(retry).encode())])
        delay = decision.constraints.get("delay")
        if delay:
            await asyncio.sleep(delay)
        return decision

    async def unless_client_leaves(self, work: Awaitable[T]) -> tuple[bool, T | None]:
        """``(True, result)`` of ``work``, or ``(False, None)`` once the client disconnects
        first, with ``work`` cancelled: a held or streaming request nobody waits for any
        more stops spending (a reviewer's time, an upstream's tokens).

        Call it once the request body is read: the server then has nothing else to deliver
        but the disconnect.
        """
        task = asyncio.ensure_future(work)
        left = asyncio.ensure_future(self._client_left())
        try:
            await asyncio.wait((task, left), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, left):
                pending.cancel()
            await asyncio.gather(task, left, return_exceptions=True)
        if task.cancelled():
            return False, None
        return True, task.result()

    async def _client_left(self) -> None:
        try:
            while (await self.receive())["type"] != "http.disconnect":
                pass
        except Exception:
            await asyncio.Event().wait()  # a server that cannot tell: never "left"

    def _review_summary(self, decision: Decision) -> dict[str, Any]:
        return {"key": self.event.get(ev.CLIENT_KEY_ID), "route": self.event.get(ev.API_ENDPOINT),
                "model": self.event.get(ev.API_MODEL), "rule": decision.rule,
                "reasons": list(decision.reasons)}

    # --- outcomes ---------------------------------------------------------------------

    async def reject(self, status: int, message: str, code: str, *, rule: str | None = None,
                     param: str | None = None, techniques: tuple[str, ...] = (),
                     headers: list[tuple[bytes, bytes]] | None = None) -> NoReturn:
        """Record the decision, send the protocol's error body, and end the request."""
        if rule is not None or self.decision is None:
            self.decision = Decision(self.event[ev.EVENT_ID], Action.BLOCK, rule or code,
                                     (message,), techniques,
                                     policy_revision=self.snapshot.policy.revision)
        await self.record(status, error=code)
        await send_json(self.send, status, error_body(self.protocol, status, message, code, param),
                        [*self.decision_headers(), *(headers or ())])
        raise Rejected(code)

    def decision_headers(self) -> list[tuple[bytes, bytes]]:
        decision = self.response_decision if self._response_wins() else self.decision
        if decision is None:
            return []
        return [(b"x-atlasgate-decision-id", decision.id.encode()),
                (b"x-atlasgate-action", decision.action.name.encode())]

    def _response_wins(self) -> bool:
        return (self.response_decision is not None and self.decision is not None
                and self.response_decision.action > self.decision.action)

    async def record(self, status: int, *, error: str | None = None,
                     upstream_ms: float | None = None) -> None:
        """Append the decision to the log; returns once it is durable."""
        decision = self.decision
        assert decision is not None
        final = self.response_decision if self._response_wins() else decision
        assert final is not None
        techniques = self.event.get(ev.ATLAS_TECHNIQUES)
        if techniques:
            tactics, playbooks = references(tuple(techniques))
            self.event.update({ev.ATLAS_TACTICS: tactics, ev.ATLAS_PLAYBOOKS: playbooks})
        self.event.update({
            ev.DECISION_ID: decision.id,
            ev.DECISION_ACTION: final.action.name,
            ev.DECISION_RULE: final.rule,
            ev.DECISION_REASONS: list(final.reasons),
            ev.HTTP_STATUS: status,
        })
        audit = self.snapshot.config.audit
        entry: dict[str, Any] = {
            "decision_id": decision.id,
            "time": self.event[ev.TIMESTAMP],
            "event": self.event.summary(include_content=audit.include_content),
            "decision": decision.as_record(),
            "outcome": {
                "status": status,
                "error": error,
                "modified": self.modified,
                "upstream_ms": None if upstream_ms is None else round(upstream_ms, 3),
                "gateway_ms": round((time.perf_counter() - self.started) * 1000, 3),
            },
        }
        if self.response_decision is not None:
            entry["response_decision"] = self.response_decision.as_record()
        if self.review is not None:
            entry["review"] = self.review
        if self.findings:
            entry["findings"] = self.findings
        if self.response_fields:
            entry["response_event"] = ev.loggable(self.response_fields, audit.include_content)
        await self.append(entry)

    async def record_stream_decision(self, decision: Decision, **extra: Any) -> None:
        """A decision taken while a stream flows: logged before the stream is changed."""
        await self.append({"kind": "stream_decision", "decision_id": self.event[ev.EVENT_ID],
                           "time": self.event[ev.TIMESTAMP], "response_decision": decision.as_record(),
                           "findings": self.findings, **extra})

    async def append(self, entry: dict[str, Any]) -> None:
        decision_log = self.gateway.decision_log
        decision_id = entry.get("decision_id")
        try:
            assert decision_log is not None
            await decision_log.append(entry)
        except AtlasGateError as exc:
            log.error("decision %s could not be logged: %s", decision_id, exc)
            if self.snapshot.config.fail_mode == "closed":
                if self.response_started:
                    raise Rejected("audit_unavailable") from None
                await send_json(self.send, 503, error_body(
                    self.protocol, 503, "the decision could not be recorded; request refused "
                    "(fail_mode=closed)", "audit_unavailable"))
                raise Rejected("audit_unavailable") from None
        self.gateway.notify(entry)

