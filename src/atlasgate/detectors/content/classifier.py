"""The shipped prompt-attack classifier: word n-grams, layout marks, one linear head per category.

Features are three families of binary terms: lower-cased word unigrams, word
bigrams, and *layout marks* (``#``-prefixed) that words alone cannot see — chat
role lines (``Assistant:``, ``System:``) inside the text and where they sit,
bracketed placeholders, and imperatives that start a sentence after the opening
of the text. Each head reads some of the families (the injection head reads
unigrams and layout marks, the others unigrams and bigrams) and is L2-normalised
over the terms it reads. A prompt costs one tokenisation, a few linear-time scans
and one gather-and-sum over the weight matrix: well under a millisecond on a CPU.
The same ``feature_families`` function is used to train
(``scripts/train_content_classifier.py``) and to score, so the two can never
drift apart.

Each head's raw score is shifted so that 0.9 is the threshold that gave a 1 %
false-positive rate on the calibration split: policies compare with 0.9 and need
not know the model's internals.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from atlasgate.detectors.content.patterns import PatternGroup, compile_re
from atlasgate.errors import ConfigError

# A single character class repeated: no alternation, no nesting, so Python's
# engine runs it in linear time (it cannot backtrack).
_TOKEN = re.compile(r"[a-z0-9']+")
# Every ASCII character a token cannot hold, mapped to a space (see word_tokens).
_NOT_TOKEN = str.maketrans({c: " " for c in map(chr, range(128)) if not _TOKEN.fullmatch(c)})
_ROLE_LINE = compile_re(
    r"(?m)^[ \t]*(?:[#\[<|(*]+[ \t]*)?(user|assistant|system|human|ai|bot|model|instructions?)"
    r"[ \t]*[\]>|)*]*[ \t]*:", ignore_case=True)
_PLACEHOLDER = compile_re(r"[<\[][a-zA-Z][a-zA-Z ]{2,60}[>\]]")
_IMPERATIVE = compile_re(
    r"(?:^|[.!?\n]\s*)(ignore|disregard|forget|print|say|write|reply|respond|output|translate"
    r"|summari[sz]e|stop|instead|send|include|repeat|do not|don't|never|always|now)\b",
    ignore_case=True)
_LAYOUT = PatternGroup(_ROLE_LINE, _PLACEHOLDER, _IMPERATIVE)
_OPENING = 120  # characters: a role line or imperative after this point sits inside content

# The ufunc itself: ndarray.sum goes through a Python wrapper that costs more than a
# sum of a few rows.
_add = np.add.reduce

MODEL_FILE = "prompt_classifier.json.gz"
CALIBRATED_THRESHOLD = 0.9
FAMILIES = ("unigram", "bigram", "layout")
MAX_TOKENS = 20000  # words of a text the model reads


def layout_marks(text: str) -> set[str]:
    """Where role lines, placeholders and imperatives sit: the structure an injection forges."""
    marks: set[str] = set()
    if not _LAYOUT.may_match(text):
        return marks
    roles = [(m.start(), m.group(1).lower()) for m in _ROLE_LINE.finditer(text)]
    if roles:
        after_prose = roles[0][0] > _OPENING
        for _, role in roles:
            marks.add(f"#role:{role}")
            if after_prose:
                marks.add(f"#role-after-prose:{role}")
        marks.add(f"#role-last:{roles[-1][1]}")
        if after_prose:
            marks.add("#role-after-prose")
    if _PLACEHOLDER.search(text):
        marks.add("#placeholder")
    for match in _IMPERATIVE.finditer(text):
        if match.start() > _OPENING:
            marks.add("#late-imperative")
            marks.add(f"#late-imperative:{match.group(1).lower()}")
    return marks


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens: the runs of ``_TOKEN`` characters, in order.

    On ASCII text, turning every other character into a space and splitting cuts the
    same runs as the regex, in about a third of the time.
    """
    lowered = text.lower()
    if lowered.isascii():
        return lowered.translate(_NOT_TOKEN).split()
    return _TOKEN.findall(lowered)


def _terms(text: str, max_tokens: int = MAX_TOKENS
           ) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """Word unigrams, word pairs (bigrams before joining) and layout marks of a text."""
    tokens = word_tokens(text)[:max_tokens]
    return set(tokens), set(itertools.pairwise(tokens)), layout_marks(text)


def feature_families(text: str, max_tokens: int = MAX_TOKENS) -> dict[str, set[str]]:
    """The model's whole input: word unigrams, word bigrams and layout marks."""
    unigrams, pairs, layout = _terms(text, max_tokens)
    return {"unigram": unigrams, "bigram": {" ".join(pair) for pair in pairs}, "layout": layout}


def features(text: str) -> set[str]:
    """All feature terms of a text (the union of its families)."""
    return set().union(*feature_families(text).values())


def _sigmoids(values: list[float]) -> list[float]:
    """The logistic function of each value, without overflow (one call for all heads)."""
    exp = math.exp
    out = []
    for value in values:
        if value >= 0:
            out.append(1.0 / (1.0 + exp(-value)))
        else:
            z = exp(value)
            out.append(z / (1.0 + z))
    return out


@dataclass(frozen=True, slots=True)
class PromptClassifier:
    heads: tuple[str, ...]
    vocab: dict[str, int]
    weights: np.ndarray  # (len(vocab), len(heads)); zero where a head does not read a family
    bias: np.ndarray
    shift: np.ndarray
    reads: np.ndarray  # (len(FAMILIES), len(heads)): 1 where the head reads the family
    meta: dict[str, Any]
    # Plain-Python copies for scoring: per head, the families it reads; bias + shift.
    _columns: list[tuple[float, float, float]] = field(init=False, repr=False)
    _offsets: list[float] = field(init=False, repr=False)
    # The bigram terms keyed by their two words (see _rows).
    _pairs: dict[tuple[str, ...], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_columns", [tuple(column) for column in self.reads.T.tolist()])
        object.__setattr__(self, "_offsets", (self.bias + self.shift).tolist())
        object.__setattr__(self, "_pairs", {tuple(term.split(" ")): row
                                            for term, row in self.vocab.items()
                                            if term.count(" ") == 1 and not term.startswith("#")})

    def scores(self, text: str) -> dict[str, float]:
        """Calibrated score per head, in [0, 1]; 0.9 is the 1 %-FPR threshold.

        Heads are few and a prompt has few features, so everything but the weight
        lookup is plain Python: numpy's per-call overhead dwarfs three-element sums.
        """
        unigrams, pairs, layout = _terms(text)
        sizes = len(unigrams), len(pairs), len(layout)  # in FAMILIES order
        counts = [sizes[0] * a + sizes[1] * b + sizes[2] * c for a, b, c in self._columns]
        if not any(counts):
            return dict.fromkeys(self.heads, 0.0)
        raw = self._weight_sums(self._rows(unigrams, pairs, layout))
        sqrt = math.sqrt
        # Counts are whole numbers: ``count or 1.0`` is max(count, 1.0).
        logits = [value / sqrt(count or 1.0) + offset
                  for value, count, offset in zip(raw, counts, self._offsets, strict=True)]
        return dict(zip(self.heads, _sigmoids(logits), strict=True))

    def _rows(self, unigrams: set[str], pairs: set[tuple[str, str]], layout: set[str]
              ) -> list[int]:
        """The weight rows of a text's terms that the vocabulary holds, in index order.

        Sorted: float32 sums depend on their order, and a set's order on the process's
        hash seed; replicas must score the same text alike. A bigram is looked up by its
        two words, without joining them: words hold no space and layout marks start with
        ``#``, so a bigram term "a b" is exactly the pair (a, b) and no other term.
        """
        get = self.vocab.get
        rows = [row for row in map(get, unigrams) if row is not None]
        rows += [row for row in map(self._pairs.get, pairs) if row is not None]
        if layout:
            rows += [row for row in map(get, layout) if row is not None]
        rows.sort()
        return rows

    def _weight_sums(self, index: list[int]) -> list[float]:
        """Per head, the sum of the weight rows at ``index`` (float32, in numpy's order).

        Short texts often hit one term: its row is the sum, without numpy's per-call cost
        (a -0.0 weight would read as 0.0 from the sum, which gives the same score).
        """
        if len(index) == 1:
            return self.weights[index[0]].tolist()
        if not index:
            return [0.0] * len(self.heads)
        return _add(self.weights.take(index, 0), 0).tolist()


def load(path: str | Path | None = None) -> PromptClassifier:
    """Load the shipped model (or another file written by the training script)."""
    try:
        if path is None:
            raw = (resources.files("atlasgate.detectors.content") / "model" / MODEL_FILE).read_bytes()
            source = f"<package>/model/{MODEL_FILE}"
        else:
            raw = Path(path).read_bytes()
            source = str(path)
        data = json.loads(gzip.decompress(raw))
        heads = tuple(data["heads"])
        vocab = {term: i for i, term in enumerate(data["vocab"])}
        scale = float(data["scale"])
        weights = np.asarray(data["weights"], dtype=np.float32).reshape(len(vocab), len(heads))
        weights *= np.float32(scale)
        # Format-1 files predate layout marks: every head read unigrams and bigrams.
        families = data.get("families") or dict.fromkeys(heads, ("unigram", "bigram"))
        reads = np.array([[name in families[head] for head in heads] for name in FAMILIES],
                         dtype=np.float64)
    except FileNotFoundError:
        raise ConfigError("classifier model file not found", str(path or MODEL_FILE)) from None
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise ConfigError(f"classifier model file is unreadable: {exc}", str(path or MODEL_FILE)) from None
    return PromptClassifier(
        heads=heads,
        vocab=vocab,
        weights=weights,
        bias=np.asarray(data["bias"], dtype=np.float64),
        shift=np.asarray(data["shift"], dtype=np.float64),
        reads=reads,
        meta={k: v for k, v in data.items() if k not in ("vocab", "weights")} | {"source": source},
    )
