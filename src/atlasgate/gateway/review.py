"""REVIEW: requests held until a person approves or denies them, or the timeout decides."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PendingReview:
    decision_id: str
    summary: dict[str, Any]
    created: float
    future: asyncio.Future[tuple[str, str]] = field(repr=False)


class ReviewQueue:
    """In-process holds; with several replicas the shared store carries them instead."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingReview] = {}

    def pending(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {"decision_id": p.decision_id, "waiting_seconds": round(now - p.created, 1), **p.summary}
            for p in self._pending.values()
        ]

    async def hold(
        self, decision_id: str, summary: dict[str, Any], timeout: float, default: str
    ) -> tuple[str, str]:
        """Wait for a verdict: returns (``"ALLOW"``|``"BLOCK"``, who decided)."""
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[decision_id] = PendingReview(decision_id, summary, time.time(), future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return default, f"timeout after {timeout:g}s"
        finally:
            self._pending.pop(decision_id, None)

    def resolve(self, decision_id: str, verdict: str, reviewer: str) -> bool:
        pending = self._pending.get(decision_id)
        if pending is None or pending.future.done():
            return False
        pending.future.set_result((verdict, reviewer))
        return True
