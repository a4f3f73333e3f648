"""Actions that outlive one request: a Sigma rule's ``atlasgate: {action, for}`` block
puts an action on the matching identity for a while, so a detection becomes enforcement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from atlasgate.policy.decision import Action


@dataclass(frozen=True, slots=True)
class IdentityAction:
    action: Action
    constraint: dict[str, Any]
    until: float
    rule: str
    techniques: tuple[str, ...]


class IdentityActions:
    """In-process and bounded; with several replicas the shared store carries them."""

    def __init__(self, max_identities: int = 100_000) -> None:
        self.max_identities = max_identities
        self._active: dict[str, IdentityAction] = {}

    def put(self, identity: str, action: IdentityAction) -> None:
        current = self.get(identity, time.time())
        if current is not None and current.action > action.action and current.until > action.until:
            return
        if len(self._active) >= self.max_identities:
            self._expire(time.time())
            if len(self._active) >= self.max_identities:
                self._active.pop(next(iter(self._active)))
        self._active[identity] = action

    def get(self, identity: str, now: float) -> IdentityAction | None:
        action = self._active.get(identity)
        if action is not None and action.until <= now:
            del self._active[identity]
            return None
        return action

    def _expire(self, now: float) -> None:
        for identity in [i for i, a in self._active.items() if a.until <= now]:
            del self._active[identity]
