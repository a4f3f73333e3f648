"""The label-consistency model: how likely each label is given the features.

A logistic regression and a small neural network, both trained on the trusted
baseline and stored as plain weights (never rows). Thresholds come from
cross-validated, out-of-sample probabilities on the baseline, as in confident
learning: a row is a suspected flip when the model is as sure of another class as
it usually is on clean rows of that class, and gives the row's own label very
little probability.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier

HIDDEN = 64
FOLDS = 5
# Probabilities at which the out-of-fold distribution of a row's own-label probability
# is kept: finely spaced near 0, where the rows of interest are.
DOUBT_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 0.1, 13), np.linspace(0.15, 1.0, 18)])


@dataclass
class LabelModel:
    classes: list[Any]
    linear: tuple[np.ndarray, np.ndarray]
    network: list[tuple[np.ndarray, np.ndarray]]
    confidence: np.ndarray
    low: float
    accuracy: float
    clean_rate: float = 0.0
    # (grid, how many baseline rows got at most that probability for their label, rows)
    # Per class: how many clean baseline rows of that class gave their own label at most
    # each grid probability (out of fold), and the class's rows. Per class, because rows
    # of a small class get less probability for their label than rows of a large one.
    confidence_cdf: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def learn(cls, matrix: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> LabelModel | None:
        classes, y = np.unique(labels, return_inverse=True)
        counts = np.bincount(y)
        if classes.size < 2 or counts.min() < 2:
            return None
        folds = int(min(FOLDS, counts.min()))
        oos = np.zeros((len(y), classes.size))
        if folds >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            for train, test in splitter.split(matrix, y):
                part = cls._fit(matrix[train], y[train], classes, seed)
                proba = np.zeros((len(test), classes.size))
                present = np.unique(y[train])
                proba[:, present] = part._proba_present(matrix[test], present.size)
                oos[test] = proba
        model = cls._fit(matrix, y, classes, seed)
        self_conf = oos[np.arange(len(y)), y]
        model.confidence = np.array(
            [float(self_conf[y == c].mean()) if np.any(y == c) else 0.5 for c in range(classes.size)]
        )
        model.low = float(np.clip(np.quantile(self_conf, 0.005), 0.01, 0.5 / classes.size))
        model.accuracy = float(np.mean(oos.argmax(1) == y))
        predicted = oos.argmax(1)
        p_predicted = oos[np.arange(len(y)), predicted]
        suspect = (
            (predicted != y) & (self_conf < model.low) & (p_predicted >= 0.5 * model.confidence[predicted])
        )
        model.clean_rate = float(suspect.mean())
        counts = np.array([np.searchsorted(np.sort(self_conf[y == c]), DOUBT_GRID, side="right")
                           for c in range(classes.size)], dtype=float)
        rows = np.bincount(y, minlength=classes.size).astype(float)
        model.confidence_cdf = (DOUBT_GRID.copy(), counts, rows)
        return model

    def doubt(self, p_label: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per row, the share of clean baseline rows of its label whose own label got at most
        this probability.

        Read from the out-of-fold distribution of that class, rounded up to the next grid
        point and smoothed by one row, so it errs towards 'not unusual'. 1.0 without a
        distribution.
        """
        if self.confidence_cdf is None:
            return np.ones_like(p_label, dtype=float)
        grid, counts, rows = self.confidence_cdf
        at = np.clip(np.searchsorted(grid, p_label, side="left"), 0, grid.size - 1)
        labels = np.asarray(labels, dtype=int)
        return np.minimum((counts[labels, at] + 1.0) / (rows[labels] + 1.0), 1.0)

    @classmethod
    def _fit(cls, matrix: np.ndarray, y: np.ndarray, classes: np.ndarray, seed: int) -> LabelModel:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr = LogisticRegression(C=0.5, max_iter=2000).fit(matrix, y)
            mlp = MLPClassifier(
                hidden_layer_sizes=(HIDDEN,), alpha=1e-2, max_iter=300, random_state=seed
            ).fit(matrix, y)
        return cls(
            classes=[_plain(c) for c in classes],
            linear=(lr.coef_.copy(), lr.intercept_.copy()),
            network=[(w.copy(), b.copy()) for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)],
            confidence=np.zeros(classes.size),
            low=0.05,
            accuracy=0.0,
        )

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes``."""
        return self._proba_present(matrix, len(self.classes))

    def _proba_present(self, matrix: np.ndarray, k: int) -> np.ndarray:
        coef, intercept = self.linear
        linear = _output(matrix @ coef.T + intercept, k)
        hidden = matrix
        for w, b in self.network[:-1]:
            hidden = np.maximum(hidden @ w + b, 0.0)
        w, b = self.network[-1]
        network = _output(hidden @ w + b, k)
        return (linear + network) / 2.0

    def as_record(self) -> dict[str, Any]:
        return {
            "method": "logistic regression + one-hidden-layer network, averaged",
            "classes": self.classes,
            "linear": [self.linear[0].tolist(), self.linear[1].tolist()],
            "network": [[w.tolist(), b.tolist()] for w, b in self.network],
            "confidence": self.confidence.tolist(),
            "low": self.low,
            "accuracy": self.accuracy,
            "clean_rate": self.clean_rate,
            "confidence_cdf": None
            if self.confidence_cdf is None
            else {
                "grid": self.confidence_cdf[0].tolist(),
                "counts_by_class": self.confidence_cdf[1].tolist(),
                "rows_by_class": self.confidence_cdf[2].tolist(),
            },
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LabelModel:
        return cls(
            classes=list(record["classes"]),
            linear=(np.asarray(record["linear"][0]), np.asarray(record["linear"][1])),
            network=[(np.asarray(w), np.asarray(b)) for w, b in record["network"]],
            confidence=np.asarray(record["confidence"], dtype=float),
            low=float(record["low"]),
            accuracy=float(record["accuracy"]),
            clean_rate=float(record.get("clean_rate", 0.0)),
            confidence_cdf=_cdf(record.get("confidence_cdf")),
        )


def _cdf(record: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The per-class distribution; None for profiles that kept only a pooled one (their
    doubts would be too low for small classes, so the tests that use doubt do not run)."""
    if not record or "counts_by_class" not in record:
        return None
    return (
        np.asarray(record["grid"], dtype=float),
        np.asarray(record["counts_by_class"], dtype=float),
        np.asarray(record["rows_by_class"], dtype=float),
    )


def _output(logits: np.ndarray, k: int) -> np.ndarray:
    if logits.shape[1] == 1 and k == 2:
        p = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -50, 50)))
        return np.column_stack([1 - p, p])
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
