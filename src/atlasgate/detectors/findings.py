"""What a detector returns. Detectors never decide: the policy engine does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a detector saw, with the ATLAS techniques it is evidence of.

    ``span`` is a (start, end) offset into the original text at ``location``
    (for example ``messages[2].content``), so that CONSTRAIN can redact exactly it.
    """

    detector: str
    kind: str
    score: float
    techniques: tuple[str, ...]
    location: str = ""
    span: tuple[int, int] | None = None
    detail: str = ""
