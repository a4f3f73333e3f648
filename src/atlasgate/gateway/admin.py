"""Admin routes: reload, the review queue, health. They need an admin key.

Every admin action leaves a decision in the log, including reads of the queue and
verdicts on reviews that no longer exist: who looked and who tried is evidence.
"""

from __future__ import annotations

from atlasgate.gateway.flow import Exchange
from atlasgate.gateway.http import send_json


async def reload(x: Exchange) -> None:
    await x.authenticate(admin=True)
    ok, message = x.gateway.reload()
    await _record(x, 200 if ok else 409)
    await send_json(x.send, 200 if ok else 409, {"reloaded": ok, "message": message,
                                                 "revision": x.gateway.snapshot.policy.revision},
                    x.decision_headers())


async def list_reviews(x: Exchange) -> None:
    await x.authenticate(admin=True)
    await _record(x, 200)
    await send_json(x.send, 200, {"pending": x.gateway.reviews.pending()}, x.decision_headers())


async def resolve_review(x: Exchange, decision_id: str, verdict: str) -> None:
    identity = await x.authenticate(admin=True)
    action = "ALLOW" if verdict == "approve" else "BLOCK"
    if not x.gateway.reviews.resolve(decision_id, action, f"admin:{identity.key_id}"):
        await x.reject(404, f"no pending review {decision_id}", "review_not_found",
                       rule="admin.review_not_found")
    # The verdict and who gave it are logged with the reviewed request's own decision.
    await send_json(x.send, 200, {"decision_id": decision_id, "verdict": action})


async def _record(x: Exchange, status: int) -> None:
    """Admin actions go through the policy for the record, but are not enforced."""
    await x.describe(None, {})
    await x.decide()
    await x.record(status)
