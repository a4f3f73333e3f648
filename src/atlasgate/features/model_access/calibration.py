"""Thresholds of the query-stream detectors, learned from benign-like streams of training rows.

At registration the training rows stand in for honest traffic: random callers,
callers who stay within one class, and callers who add small noise. Each
detector's threshold is set where such streams almost never cross it, which is
how Chen et al. (k-NN distance) and PRADA (normality of minimum distances) set
theirs. The learning curve maps a caller's coverage of the input space to the
fidelity a copy trained on that many natural queries reached, so that coverage
reads as estimated extraction progress.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import stats

from atlasgate.features.model_access import fingerprint

FORMAT = "atlasgate.model_access.calibration/1"
STREAMS = 120
STREAM_LENGTH = 200
K = 5
KNN_QUANTILE = 0.001
NORMALITY_QUANTILE = 0.01
NORMALITY_MIN = 20
NORMALITY_SAMPLES = 50
CURVE_SIZES = (3, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500)


def calibrate(metric: np.ndarray, encoded: np.ndarray, labels: np.ndarray | None,
              regions: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """All thresholds as a JSON-ready record (no rows, only numbers derived from them).

    ``metric`` is the training rows in the distance space of the stream detectors,
    ``encoded`` the same rows in the profile's encoding (where ``regions`` live).
    """
    rng = np.random.default_rng(seed)
    streams = _benign_streams(metric, labels, rng)
    knn, nearest, worst_w = [], [], []
    for stream in streams:
        k_mean, nn = _stream_distances(stream, K)
        knn.append(k_mean)
        nearest.append(nn)
        worst_w.append(_worst_normality(nn))
    knn_all = np.concatenate(knn)
    nn_all = np.concatenate(nearest)
    nn_all = nn_all[nn_all > 0]
    record: dict[str, Any] = {
        "format": FORMAT,
        "k": K,
        "knn_threshold": float(np.quantile(knn_all[knn_all > 0], KNN_QUANTILE)),
        "nn_median": float(np.median(nn_all)) if nn_all.size else 1.0,
        "normality_w": float(np.min(worst_w)) * 0.95,
        "streams": len(streams),
    }
    record.update(_fingerprint_calibration(metric, streams))
    record["curve"], record["copy_queries"] = _learning_curve(encoded, labels, regions, rng)
    return record


def _benign_streams(encoded: np.ndarray, labels: np.ndarray | None,
                    rng: np.random.Generator) -> list[np.ndarray]:
    n = encoded.shape[0]
    length = min(STREAM_LENGTH, n)
    spread = encoded.std(axis=0)
    streams = []
    for i in range(STREAMS):
        kind = i % 3
        if kind == 1 and labels is not None:
            cls = labels[rng.integers(n)]
            pool = np.flatnonzero(labels == cls)
        else:
            pool = np.arange(n)
        rows = encoded[rng.choice(pool, size=min(length, pool.size), replace=False)]
        if kind == 2:
            rows = rows + rng.normal(0, 0.05, rows.shape) * spread
        streams.append(rows)
    return streams


def _pairwise(rows: np.ndarray) -> np.ndarray:
    sq = np.sum(rows**2, axis=1)
    d2 = sq[:, None] - 2 * rows @ rows.T + sq[None, :]
    return np.sqrt(np.clip(d2, 0, None))


def _stream_distances(rows: np.ndarray, k: int, buffer: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Per query (in arrival order), mean distance to its k nearest buffered predecessors, and the nearest."""
    d = _pairwise(rows)
    d[np.triu_indices(len(rows))] = np.inf
    d[np.tril_indices(len(rows), -buffer - 1)] = np.inf
    d[d == 0] = np.inf  # exact repeats are set aside, as the monitor does
    ordered = np.sort(d, axis=1)
    knn = ordered[k:, :k].mean(axis=1)
    nearest = ordered[1:, 0]
    return knn[np.isfinite(knn)], nearest[np.isfinite(nearest)]


def _worst_normality(nearest: np.ndarray) -> float:
    """The lowest Shapiro-Wilk W the monitor would compute along this stream."""
    worst = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for end in range(NORMALITY_MIN, nearest.size + 1, 2):
            sample = nearest[max(0, end - NORMALITY_SAMPLES):end]
            if np.ptp(sample) > 0:
                worst = min(worst, float(stats.shapiro(np.log(sample))[0]))
    return worst


def _fingerprint_calibration(encoded: np.ndarray, streams: list[np.ndarray]) -> dict[str, Any]:
    if encoded.shape[1] < fingerprint.MIN_FEATURES:
        return {"fingerprint": None}
    stop = fingerprint.stop_list(encoded)
    overlaps = []
    sizes = []
    for stream in streams[:30]:
        prints = fingerprint.fingerprints(stream, stop)
        sizes.extend(p.size for p in prints)
        table = np.full((len(prints), fingerprint.SIZE), -1, dtype=np.int64)
        for i, p in enumerate(prints):
            table[i, : p.size] = p
        for i in range(1, len(prints)):
            if prints[i].size:
                overlaps.append(int(np.isin(table[:i], prints[i]).sum(axis=1).max()))
    typical = float(np.median(sizes)) if sizes else 0.0
    benign = float(np.quantile(overlaps, 0.999)) if overlaps else 0.0
    threshold = int(max(math.ceil(0.5 * typical), benign + 1, 3))
    return {"fingerprint": {"stop": stop.tolist(), "threshold": threshold, "step": fingerprint.STEP,
                            "size": fingerprint.SIZE, "typical_size": typical}}


def _learning_curve(encoded: np.ndarray, labels: np.ndarray | None, regions: np.ndarray,
                    rng: np.random.Generator) -> tuple[list[list[float]], int | None]:
    """[coverage, fidelity] points: how far a copy trained on natural queries gets per coverage.

    Also the number of natural queries after which such a copy first agreed with the
    model on 90% of held-out rows (None if it never did within the sizes tried): a model
    copied in a handful of queries cannot be warned about in time by any stream monitor.
    """
    from sklearn.linear_model import LogisticRegression

    n = encoded.shape[0]
    nearest = _nearest(encoded, regions)
    if labels is None or np.unique(labels).size < 2 or n < 40:
        return [[0.0, 0.0], [1.0, 1.0]], None
    order = rng.permutation(n)
    held, pool = order[: n // 4], order[n // 4:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        victim = LogisticRegression(max_iter=300).fit(encoded, labels)
        truth = victim.predict(encoded[held])
        points = []
        copy_queries: int | None = None
        for size in CURVE_SIZES:
            if size > pool.size:
                break
            coverages, fidelities = [], []
            for _ in range(3):
                chosen = rng.choice(pool, size=size, replace=False)
                coverages.append(np.unique(nearest[chosen]).size / regions.shape[0])
                answers = victim.predict(encoded[chosen])
                if np.unique(answers).size < 2:
                    fidelities.append(float(np.mean(truth == answers[0])))
                    continue
                thief = LogisticRegression(max_iter=300).fit(encoded[chosen], answers)
                fidelities.append(float(np.mean(thief.predict(encoded[held]) == truth)))
            points.append([float(np.mean(coverages)), float(np.mean(fidelities))])
            if copy_queries is None and np.mean(fidelities) >= 0.9:
                copy_queries = size
    points.sort()
    curve = [[0.0, 0.0]]
    best = 0.0
    for coverage, fidelity in points:
        best = max(best, fidelity)
        if coverage > curve[-1][0]:
            curve.append([round(coverage, 4), round(best, 4)])
    return curve, copy_queries


def _nearest(encoded: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = (np.sum(encoded**2, axis=1)[:, None] - 2 * encoded @ centres.T
          + np.sum(centres**2, axis=1)[None, :])
    return np.argmin(d2, axis=1)
