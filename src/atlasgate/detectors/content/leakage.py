"""Does model output repeat the configured system prompt or a canary string?

The system prompt is cut into overlapping word shingles once, at start-up; the
output's shingles are looked up in that set, so the check costs one pass over
the output whatever the prompt's length. Paraphrase is out of scope: this finds
verbatim and near-verbatim copies (case, punctuation and spacing ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

# A single repeated character class: linear in Python's engine (cannot backtrack).
_WORD = re.compile(r"[a-z0-9]+")

TECHNIQUES = ("AML.T0056", "AML.T0057")


class LeakageIndex:
    """Shingles of the protected prompts and the lower-cased canaries."""

    def __init__(self, prompts: Sequence[str], canaries: Sequence[str], shingle: int = 6) -> None:
        self.shingle = shingle
        self.canaries = tuple(c.lower() for c in canaries if c)
        self.total = 0
        self.shingles: set[tuple[str, ...]] = set()
        for prompt in prompts:
            words = _WORD.findall(prompt.lower())
            grams = {tuple(words[i:i + shingle]) for i in range(len(words) - shingle + 1)}
            self.total += len(grams)
            self.shingles |= grams

    def __bool__(self) -> bool:
        return bool(self.canaries or self.shingles)

    def find(self, text: str, lowered: str) -> Iterator[tuple[str, tuple[int, int], float]]:
        for canary in self.canaries:
            start = lowered.find(canary)
            while start != -1:
                yield "canary", (start, start + len(canary)), 0.99
                start = lowered.find(canary, start + len(canary))
        if not self.shingles:
            return
        spans = [m.span() for m in _WORD.finditer(lowered)]
        words = [lowered[a:b] for a, b in spans]
        n = self.shingle
        hit_from = -1
        matched: set[tuple[str, ...]] = set()
        runs: list[tuple[int, int]] = []
        for i in range(len(words) - n + 1):
            gram = tuple(words[i:i + n])
            if gram in self.shingles:
                matched.add(gram)
                if hit_from < 0:
                    hit_from = i
                last = i + n - 1
            elif hit_from >= 0 and i > last:
                runs.append((hit_from, last))
                hit_from = -1
        if hit_from >= 0:
            runs.append((hit_from, last))
        if not runs:
            return
        coverage = len(matched) / max(self.total, 1)
        longest = max(b - a + 1 for a, b in runs)
        if coverage < 0.1 and longest < 12:
            return
        score = min(0.99, 0.5 + coverage)
        if longest >= 30 or coverage >= 0.4:
            score = max(score, 0.95)
        for a, b in runs:
            yield "system_prompt", (spans[a][0], spans[b][1]), score
