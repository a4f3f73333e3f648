"""Row-level novelty: how far a row lies from the baseline, on two complementary scales.

- Prototype distance: distance to the nearest k-means centre of the encoded baseline,
  in units of that centre's spread. It follows clusters and curved shapes.
- Mahalanobis distance under a Ledoit–Wolf shrunk covariance. It sees rows that
  break the features' correlations even when every value is in range.

Each is divided by its own threshold and the larger ratio is the score, so a score
above 1.0 is novel. Thresholds are quantiles of out-of-fold scores (each baseline
row scored by a model fitted without it), so a clean row exceeds 1.0 at about the
configured rate. Centres are means of many rows and the covariance is a summary:
the profile can travel with a model without carrying training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.covariance import LedoitWolf
from sklearn.model_selection import KFold

DEFAULT_QUANTILE = 0.995
FOLDS = 4


@dataclass
class NoveltyModel:
    centres: np.ndarray
    radii: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    prototype_threshold: float
    gaussian_threshold: float
    quantile: float
    threshold: float = 1.0

    @classmethod
    def learn(cls, matrix: np.ndarray, *, quantile: float = DEFAULT_QUANTILE, seed: int = 0) -> NoveltyModel:
        n = matrix.shape[0]
        k = int(np.clip(n // 25, 2, 64)) if n >= 8 else 1
        oos_proto = np.zeros(n)
        oos_gauss = np.zeros(n)
        folds = min(FOLDS, n) if n >= 8 else 0
        if folds >= 2:
            for fit, held in KFold(folds, shuffle=True, random_state=seed).split(matrix):
                part = cls._fit(matrix[fit], k, seed)
                oos_proto[held] = part._prototype(matrix[held])
                oos_gauss[held] = part._gaussian(matrix[held])
        model = cls._fit(matrix, k, seed)
        if folds < 2:
            oos_proto = model._prototype(matrix) * 1.5
            oos_gauss = model._gaussian(matrix) * 1.5
        # Each scale gets half the false-alarm budget, so the union stays near 1 - quantile.
        each = 1.0 - (1.0 - quantile) / 2.0
        model.prototype_threshold = max(float(np.quantile(oos_proto, each)), 1e-9)
        model.gaussian_threshold = max(float(np.quantile(oos_gauss, each)), 1e-9)
        model.quantile = quantile
        return model

    @classmethod
    def _fit(cls, matrix: np.ndarray, k: int, seed: int) -> NoveltyModel:
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
        if matrix.shape[1] > 0 and matrix.shape[0] > 1:
            lw = LedoitWolf().fit(matrix)
            mean, precision = lw.location_, lw.precision_
        else:
            mean = matrix.mean(axis=0) if matrix.shape[0] else np.zeros(matrix.shape[1])
            precision = np.eye(matrix.shape[1])
        return cls(
            centres=centres,
            radii=radii,
            mean=mean,
            precision=precision,
            prototype_threshold=1.0,
            gaussian_threshold=1.0,
            quantile=DEFAULT_QUANTILE,
        )

    def _prototype(self, matrix: np.ndarray) -> np.ndarray:
        sq = (
            np.sum(matrix**2, axis=1)[:, None]
            - 2 * matrix @ self.centres.T
            + np.sum(self.centres**2, axis=1)[None, :]
        )
        distances = np.sqrt(np.clip(sq, 0, None))
        return np.min(distances / self.radii[None, :], axis=1)

    def _gaussian(self, matrix: np.ndarray) -> np.ndarray:
        centred = matrix - self.mean[None, :]
        return np.sqrt(np.clip(np.einsum("ij,jk,ik->i", centred, self.precision, centred), 0, None))

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Higher is more novel; above 1.0 is outside the baseline's distribution."""
        if matrix.shape[0] == 0:
            return np.zeros(0)
        return np.maximum(
            self._prototype(matrix) / self.prototype_threshold,
            self._gaussian(matrix) / self.gaussian_threshold,
        )

    def as_record(self) -> dict[str, Any]:
        return {
            "method": "max of prototype distance (k-means) and Ledoit-Wolf Mahalanobis "
            "distance, each over its out-of-fold quantile",
            "centres": np.round(self.centres, 6).tolist(),
            "radii": np.round(self.radii, 6).tolist(),
            "mean": self.mean.tolist(),
            "precision": self.precision.tolist(),
            "prototype_threshold": self.prototype_threshold,
            "gaussian_threshold": self.gaussian_threshold,
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
            mean=np.asarray(record["mean"], dtype=float),
            precision=np.asarray(record["precision"], dtype=float),
            prototype_threshold=float(record["prototype_threshold"]),
            gaussian_threshold=float(record["gaussian_threshold"]),
            quantile=float(record["quantile"]),
            threshold=float(record.get("threshold", 1.0)),
        )
