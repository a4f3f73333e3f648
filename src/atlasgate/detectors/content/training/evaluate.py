"""Detection quality of the content pipeline on the held-out split.

A category's score for a text is what a policy sees: ``detection.<category>.score``
after the whole pipeline (normalisation, phrase rules, classifier). Negatives are
the benign samples; other attack categories are left out of a category's count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from atlasgate.detectors.content.training.corpus import Sample

CATEGORIES = ("injection", "jailbreak", "extraction")


@dataclass(frozen=True, slots=True)
class Quality:
    category: str
    positives: int
    negatives: int
    recall_at_1pct_fpr: float
    threshold_at_1pct_fpr: float
    precision: float
    recall: float
    f1: float
    fpr: float


def recall_at_fpr(pos: Sequence[float], neg: Sequence[float], fpr: float = 0.01
                  ) -> tuple[float, float]:
    """Best recall with at most ``fpr`` of negatives scoring above the threshold."""
    ordered = sorted(neg)
    allowed = math.floor(fpr * len(ordered))
    threshold = ordered[-allowed - 1] if allowed < len(ordered) else -math.inf
    return sum(1 for p in pos if p > threshold) / max(len(pos), 1), threshold


def quality(samples: Sequence[Sample], score: Callable[[str], dict[str, float]],
            threshold: float = 0.9) -> list[Quality]:
    scored = [(s.label, score(s.text)) for s in samples]
    out = []
    for category in CATEGORIES:
        pos = [sc[category] for label, sc in scored if label == category]
        neg = [sc[category] for label, sc in scored if label == "none"]
        if not pos:
            continue
        r_at, t_at = recall_at_fpr(pos, neg)
        tp = sum(1 for p in pos if p >= threshold)
        fp = sum(1 for n in neg if n >= threshold)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(pos)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(Quality(category, len(pos), len(neg), r_at, t_at, precision, recall, f1,
                           fp / max(len(neg), 1)))
    return out
