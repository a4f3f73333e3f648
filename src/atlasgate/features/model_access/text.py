"""MinHash signatures of text inputs, for near-duplicate probing of text models.

A text instance becomes the set of its character 5-grams (case and runs of spaces
folded); 64 universal hash functions keep each set's minimum, and the share of equal
minima between two signatures estimates their Jaccard similarity. A caller who
rephrases one input again and again (probing a text classifier's boundary) shows a
run of high similarities, as near-duplicate numeric queries do.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

PERMUTATIONS = 64
SHINGLE = 5
NEAR = 0.8  # estimated Jaccard at which two texts count as near-duplicates
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(0x5EED)
_A = _rng.integers(1, (1 << 61) - 1, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, PERMUTATIONS, dtype=np.uint64)
_SPACE = re.compile(r"\s+")


def text_instances(body: dict[str, Any], version: str) -> list[str] | None:
    """The request's instances when every one is a string (v1) or a BYTES tensor (v2)."""
    if version == "v1":
        rows = body.get("instances", body.get("inputs"))
    else:
        tensors = body.get("inputs")
        rows = tensors[0].get("data") if isinstance(tensors, list) and len(tensors) == 1 \
            and isinstance(tensors[0], dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, str) for r in rows):
        return None
    return rows


def signature(text: str) -> np.ndarray:
    folded = _SPACE.sub(" ", text.lower()).strip()
    if len(folded) <= SHINGLE:
        grams = {folded}
    else:
        grams = {folded[i: i + SHINGLE] for i in range(len(folded) - SHINGLE + 1)}
    values = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64,
                         count=len(grams))
    with np.errstate(over="ignore"):
        hashed = (values[:, None] * _A[None, :] + _B[None, :]) % _PRIME
    return hashed.min(axis=0)


class TextBuffer:
    """The recent signatures of one caller's text inputs (bounded)."""

    __slots__ = ("filled", "position", "signatures")

    def __init__(self, size: int) -> None:
        self.signatures = np.zeros((size, PERMUTATIONS), dtype=np.uint64)
        self.filled = 0
        self.position = 0

    def most_similar(self, sig: np.ndarray) -> float:
        if self.filled == 0:
            return 0.0
        return float((self.signatures[: self.filled] == sig).mean(axis=1).max())

    def push(self, sig: np.ndarray) -> None:
        self.signatures[self.position] = sig
        self.position = (self.position + 1) % self.signatures.shape[0]
        self.filled = min(self.filled + 1, self.signatures.shape[0])
