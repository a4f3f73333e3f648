"""Row-level novelty: distance to the nearest baseline prototype, in units of its spread.

Prototypes are k-means centres of the encoded baseline, each the mean of many rows,
so the profile can travel with a model without carrying training rows. The
threshold is calibrated on rows the prototypes were not fitted to, so that a
clean row exceeds it at about the configured rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

DEFAULT_QUANTILE = 0.995


@dataclass
class NoveltyModel:
    centres: np.ndarray
    radii: np.ndarray
    threshold: float
    quantile: float

    @classmethod
    def learn(cls, matrix: np.ndarray, *, quantile: float = DEFAULT_QUANTILE, seed: int = 0) -> NoveltyModel:
        n = matrix.shape[0]
        k = int(np.clip(n // 25, 2, 64)) if n >= 8 else 1
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        cut = max(1, int(n * 0.75))
        fit_rows, held_rows = order[:cut], order[cut:]
        held_scores = None
        if held_rows.size >= 20:
            probe = cls._fit(matrix[fit_rows], k, quantile, seed)
            held_scores = probe.score(matrix[held_rows])
            in_scores = probe.score(matrix[fit_rows])
            inflation = _ratio(held_scores, in_scores, quantile)
        else:
            inflation = 1.5
        model = cls._fit(matrix, k, quantile, seed)
        in_sample = model.score(matrix)
        model.threshold = float(np.quantile(in_sample, quantile) * inflation)
        return model

    @classmethod
    def _fit(cls, matrix: np.ndarray, k: int, quantile: float, seed: int) -> NoveltyModel:
        k = max(1, min(k, matrix.shape[0]))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(matrix)
        centres = km.cluster_centers_
        distances = np.linalg.norm(matrix - centres[km.labels_], axis=1)
        radii = np.zeros(k)
        for c in range(k):
            member = distances[km.labels_ == c]
            radii[c] = float(np.quantile(member, 0.9)) if member.size else 0.0
        floor = float(np.median(radii[radii > 0])) if np.any(radii > 0) else 1.0
        radii = np.maximum(radii, 0.25 * floor)
        return cls(centres=centres, radii=radii, threshold=float("inf"), quantile=quantile)

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Higher is more novel; 1.0 is the edge of a typical prototype's neighbourhood."""
        if matrix.shape[0] == 0:
            return np.zeros(0)
        sq = (
            np.sum(matrix**2, axis=1)[:, None]
            - 2 * matrix @ self.centres.T
            + np.sum(self.centres**2, axis=1)[None, :]
        )
        distances = np.sqrt(np.clip(sq, 0, None))
        return np.min(distances / self.radii[None, :], axis=1)

    def as_record(self) -> dict[str, Any]:
        return {
            "method": "prototype distance (k-means centres, per-centre 90th-percentile radius)",
            "centres": np.round(self.centres, 6).tolist(),
            "radii": np.round(self.radii, 6).tolist(),
            "threshold": self.threshold,
            "quantile": self.quantile,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NoveltyModel:
        centres = np.asarray(record["centres"], dtype=float)
        if centres.ndim != 2:
            centres = centres.reshape(len(centres), -1)
        return cls(
            centres=centres,
            radii=np.asarray(record["radii"], dtype=float),
            threshold=float(record["threshold"]),
            quantile=float(record["quantile"]),
        )


def _ratio(held: np.ndarray, fitted: np.ndarray, quantile: float) -> float:
    a = float(np.quantile(held, quantile))
    b = float(np.quantile(fitted, quantile))
    if b <= 0:
        return 1.0
    return float(np.clip(a / b, 1.0, 3.0))
