"""The shipped prompt-attack classifier: word n-grams and one linear head per category.

Features are the set of lower-cased word unigrams and bigrams, L2-normalised, so a
prompt costs one tokenisation, one set build and one gather-and-sum over the
weight matrix: well under a millisecond on a CPU. The same ``features`` function
is used to train (``scripts/train_content_classifier.py``) and to score, so the
two can never drift apart.

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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from atlasgate.errors import ConfigError

# A single character class repeated: no alternation, no nesting, so Python's
# engine runs it in linear time (it cannot backtrack).
_TOKEN = re.compile(r"[a-z0-9']+")

MODEL_FILE = "prompt_classifier.json.gz"
CALIBRATED_THRESHOLD = 0.9


def features(text: str, max_tokens: int = 20000) -> set[str]:
    """Word unigrams and bigrams of lower-cased text (the model's whole input)."""
    tokens = _TOKEN.findall(text.lower())[:max_tokens]
    found = set(tokens)
    found.update(" ".join(pair) for pair in itertools.pairwise(tokens))
    return found


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    z = math.exp(value)
    return z / (1.0 + z)


@dataclass(frozen=True, slots=True)
class PromptClassifier:
    heads: tuple[str, ...]
    vocab: dict[str, int]
    weights: np.ndarray  # (len(vocab), len(heads))
    bias: np.ndarray
    shift: np.ndarray
    meta: dict[str, Any]

    def scores(self, text: str) -> dict[str, float]:
        """Calibrated score per head, in [0, 1]; 0.9 is the 1 %-FPR threshold."""
        feats = features(text)
        if not feats:
            return dict.fromkeys(self.heads, 0.0)
        index = [i for i in map(self.vocab.get, feats) if i is not None]
        raw = self.weights[index].sum(axis=0) if index else np.zeros(len(self.heads))
        logits = raw / math.sqrt(len(feats)) + self.bias + self.shift
        return {head: _sigmoid(float(z)) for head, z in zip(self.heads, logits, strict=True)}


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
        meta={k: v for k, v in data.items() if k not in ("vocab", "weights")} | {"source": source},
    )
