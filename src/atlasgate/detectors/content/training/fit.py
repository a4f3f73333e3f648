"""Fit one logistic-regression head per attack category, against benign text only.

Shared by the training script (which ships the result) and the benchmark (which
compares feature options on the same splits).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.stats import binom
from sklearn.linear_model import LogisticRegression

from atlasgate.detectors.content.classifier import CALIBRATED_THRESHOLD
from atlasgate.detectors.content.training.corpus import Sample

HEADS = ("injection", "jailbreak", "extraction")
# Chosen by grouped cross-validation over the train and calibration splits (the
# test split was not used): bigrams made the injection head memorise carrier
# documents, layout marks helped it, and the other heads did best with word n-grams.
READS: dict[str, tuple[str, ...]] = {
    "injection": ("unigram", "layout"),
    "jailbreak": ("unigram", "bigram"),
    "extraction": ("unigram", "bigram"),
}


def build_vocab(feature_sets: list[set[str]], min_df: int, max_features: int) -> list[str]:
    df: Counter[str] = Counter()
    for feats in feature_sets:
        df.update(feats)
    kept = [(n, term) for term, n in df.items() if n >= min_df]
    kept.sort(key=lambda item: (-item[0], item[1]))
    return sorted(term for _, term in kept[:max_features])


def matrix(feature_sets: list[set[str]], vocab: dict[str, int], width: int | None = None
           ) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for row, feats in enumerate(feature_sets):
        norm = 1.0 / math.sqrt(len(feats)) if feats else 0.0
        for term in feats:
            col = vocab.get(term)
            if col is not None:
                rows.append(row)
                cols.append(col)
                vals.append(norm)
    shape = (len(feature_sets), len(vocab) if width is None else width)
    return sparse.csr_matrix((vals, (rows, cols)), shape=shape)


def metrics_at(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = int(np.sum(flagged & positive))
    fp = int(np.sum(flagged & ~positive))
    fn = int(np.sum(~flagged & positive))
    negatives = int(np.sum(~positive))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "fpr": fp / negatives if negatives else 0.0, "tp": tp, "fp": fp, "fn": fn}


def recall_at_fpr(scores: np.ndarray, positive: np.ndarray, fpr: float = 0.01) -> float:
    negatives = np.sort(scores[~positive])
    if negatives.size == 0:
        return float("nan")
    allowed = math.floor(fpr * negatives.size)
    threshold = negatives[-allowed - 1] if allowed < negatives.size else -np.inf
    return float(np.mean(scores[positive] > threshold))


def np_threshold_rank(n: int, fpr: float = 0.01, confidence: float = 0.95) -> int:
    """0-based rank among ``n`` sorted calibration negatives to use as the threshold.

    The Neyman-Pearson umbrella rule (Tong, Feng and Li, 2018): the smallest order
    statistic whose false-positive rate exceeds ``fpr`` with probability at most
    ``1 - confidence``. The plain 99th percentile exceeds 1 % on fresh data about
    half of the time; with 923 calibration negatives this leaves 4 above the
    threshold instead of 9.
    """
    for k in range(1, n + 1):
        if binom.sf(k - 1, n, 1 - fpr) <= 1 - confidence:
            return k - 1
    return n - 1


@dataclass
class Fitted:
    vocab: list[str]
    weights: np.ndarray
    bias: np.ndarray
    shift: np.ndarray
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    report: dict[str, dict[str, Any]] = field(default_factory=dict)


Featurize = Callable[[str], dict[str, set[str]]]


def fit_heads(by_split: dict[str, Sequence[Sample]], featurize: Featurize,
              c: float, min_df: int, max_features: int, seed: int,
              log: Callable[[str], None] | None = None,
              reads: dict[str, tuple[str, ...]] | None = None) -> Fitted:
    """Train on ``train``, set each head's 1 %-FPR threshold on ``calibration``,
    measure on ``test``.

    ``featurize`` returns a text's terms by family; each head reads the families
    ``reads`` names for it (all of them by default), with its own vocabulary of at
    most ``max_features`` terms, and is normalised over the terms it reads.
    """
    reads = reads or {}
    families = {name: [featurize(s.text) for s in items] for name, items in by_split.items()}
    names = sorted({f for fams in families["train"][:1] for f in fams})
    head_reads = {head: reads.get(head, tuple(names)) for head in HEADS}

    def head_feats(split: str, head: str) -> list[set[str]]:
        wanted = head_reads[head]
        return [set().union(*(fams.get(f, set()) for f in wanted)) for fams in families[split]]

    per_head = {head: {split: head_feats(split, head) for split in by_split} for head in HEADS}
    head_vocab = {head: build_vocab(per_head[head]["train"], min_df, max_features) for head in HEADS}
    vocab_list = sorted(set().union(*head_vocab.values()))
    vocab = {term: i for i, term in enumerate(vocab_list)}
    labels = {name: np.array([s.label for s in items]) for name, items in by_split.items()}
    weights = np.zeros((len(vocab_list), len(HEADS)))
    bias = np.zeros(len(HEADS))
    shift = np.zeros(len(HEADS))
    report: dict[str, dict[str, Any]] = {}
    target = math.log(CALIBRATED_THRESHOLD / (1 - CALIBRATED_THRESHOLD))
    for h, head in enumerate(HEADS):
        own = {term: vocab[term] for term in head_vocab[head]}
        x = {split: matrix(per_head[head][split], own, len(vocab)) for split in by_split}
        rows = np.isin(labels["train"], [head, "none"])
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
        model.fit(x["train"][rows], labels["train"][rows] == head)
        weights[:, h] = model.coef_[0]
        bias[h] = model.intercept_[0]
        cal_logits = x["calibration"] @ weights[:, h] + bias[h]
        benign_cal = np.sort(cal_logits[labels["calibration"] == "none"])
        cut = benign_cal[np_threshold_rank(benign_cal.size)]
        shift[h] = target - cut
        test_logits = x["test"] @ weights[:, h] + bias[h] + shift[h]
        keep = np.isin(labels["test"], [head, "none"])
        positive = labels["test"][keep] == head
        result: dict[str, Any] = metrics_at(test_logits[keep], positive, target)
        result["recall_at_1pct_fpr_test"] = recall_at_fpr(test_logits[keep], positive)
        result["positives"] = int(positive.sum())
        result["negatives"] = int((~positive).sum())
        report[head] = result
        if log is not None:
            log(f"{head:11s} recall@1%FPR(test)={result['recall_at_1pct_fpr_test']:.3f}  "
                f"at shipped threshold: recall={result['recall']:.3f} precision="
                f"{result['precision']:.3f} f1={result['f1']:.3f} fpr={result['fpr']:.4f} "
                f"(n+={result['positives']}, n-={result['negatives']})")
    return Fitted(vocab_list, weights, bias, shift, head_reads, report)
