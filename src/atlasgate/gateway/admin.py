"""Admin routes: reload, the review queue, health. They need an admin key."""

from __future__ import annotations

from atlasgate.gateway.flow import Exchange
from atlasgate.gateway.http import send_json


async def reload(x: Exchange) -> None:
    await x.authenticate(admin=True)
    ok, message = x.gateway.reload()
    await x.describe(None, {})
    await x.decide()
    await x.record(200 if ok else 409)
    await send_json(x.send, 200 if ok else 409, {"reloaded": ok, "message": message,
                                                 "revision": x.gateway.snapshot.policy.revision})


async def list_reviews(x: Exchange) -> None:
    await x.authenticate(admin=True)
    await send_json(x.send, 200, {"pending": x.gateway.reviews.pending()})


async def resolve_review(x: Exchange, decision_id: str, verdict: str) -> None:
    identity = await x.authenticate(admin=True)
    action = "ALLOW" if verdict == "approve" else "BLOCK"
    if not x.gateway.reviews.resolve(decision_id, action, f"admin:{identity.key_id}"):
        await send_json(x.send, 404, {"error": f"no pending review {decision_id}",
                                      "code": "review_not_found"})
        return
    await send_json(x.send, 200, {"decision_id": decision_id, "verdict": action})
