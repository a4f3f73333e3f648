"""Suspected label flips: rows whose label the trusted baseline model confidently contradicts.

Confident-learning style, but the model is trained on the trusted baseline, so the
batch's probabilities are out-of-sample without cross-validating poisoned rows into
the model. A row is suspect when the model gives its label less probability than
clean baseline rows almost ever get, and is as sure of another class as it usually
is on clean rows of that class. A second opinion comes from the batch itself: a
logistic regression cross-validated over the batch must also give the label less
than even odds, which removes rows that are merely unusual for the baseline.
Agreement of the row's nearest neighbours in the batch is reported alongside.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.stats import binomial_excess
from atlasgate.data.techniques import BY_CHECK

NEIGHBOURS = 10
SECOND_OPINION = 0.5


def label_flips(view: BatchView) -> list[DataFinding]:
    model = view.profile.label_model
    labels = view.labels
    if model is None or labels is None:
        return []
    known = np.flatnonzero(labels >= 0)
    if known.size == 0:
        return []
    proba = model.proba(view.matrix[known])
    y = labels[known]
    predicted = proba.argmax(axis=1)
    p_label = proba[np.arange(known.size), y]
    p_predicted = proba[np.arange(known.size), predicted]
    suspect = (predicted != y) & (p_label < model.low) & (p_predicted >= 0.5 * model.confidence[predicted])
    second = _batch_opinion(view.matrix[known], y, len(model.classes))
    if second is not None:
        suspect &= second[np.arange(known.size), y] < SECOND_OPINION
    rows = known[suspect]
    if rows.size == 0:
        return []
    # The clean rate is estimated from the baseline's own suspects (a count c); allow
    # two standard errors and one more so that a small baseline does not under-estimate it.
    count = model.clean_rate * view.n
    clean_rate = (count + 2.0 * np.sqrt(count) + 1.0) / (view.n + 1)
    p_value = binomial_excess(int(rows.size), int(known.size), clean_rate)
    share = rows.size / view.m
    settings = view.settings
    strength = settings.strength(p_value, True, share >= settings.strong_share)
    agreement = _neighbour_agreement(view, known, y, predicted, suspect)
    classes = view.profile.classes
    order = np.argsort(p_label[suspect])
    examples = ", ".join(
        f"row {int(rows[i])}: labelled {classes[y[suspect][i]]!r}, model says "
        f"{classes[predicted[suspect][i]]!r} ({p_predicted[suspect][i]:.2f})"
        for i in order[:4]
    )
    expected = clean_rate * known.size
    return [
        DataFinding(
            check="label_flips",
            test="confident learning with a baseline-trained model (out-of-sample "
            "probabilities, per-class thresholds) confirmed by a batch cross-validated "
            "logistic regression; binomial test against the clean rate",
            techniques=BY_CHECK["label_flips"],
            strength=strength,
            explanation=f"{rows.size} row(s) ({share:.1%}) carry a label the baseline model "
            f"confidently contradicts (about {expected:.1f} expected in a clean batch); "
            f"{agreement:.0%} of them are also outvoted by their nearest neighbours in the "
            f"batch; e.g. {examples}",
            rows=tuple(int(r) for r in rows[order]),
            features=(view.profile.label or "",),
            p_value=p_value,
            effect={"share": share, "expected_share": clean_rate, "neighbour_agreement": agreement},
            detail={"suggested": {int(rows[i]): classes[predicted[suspect][i]] for i in order[:50]}},
        )
    ]


def _batch_opinion(matrix: np.ndarray, y: np.ndarray, k: int) -> np.ndarray | None:
    """Out-of-fold class probabilities from the batch alone, or None if it is too small."""
    counts = np.bincount(y, minlength=k)
    present = np.flatnonzero(counts)
    folds = int(min(5, counts[present].min())) if present.size else 0
    if present.size < 2 or folds < 2:
        return None
    out = np.zeros((y.size, k))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, test in splitter.split(matrix, y):
            model = LogisticRegression(C=0.5, max_iter=1000).fit(matrix[train], y[train])
            out[np.ix_(test, model.classes_)] = model.predict_proba(matrix[test])
    return out


def _neighbour_agreement(
    view: BatchView, known: np.ndarray, y: np.ndarray, predicted: np.ndarray, suspect: np.ndarray
) -> float:
    if known.size <= NEIGHBOURS:
        return 0.0
    matrix = view.matrix[known]
    nn = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(matrix)
    _, neighbours = nn.kneighbors(matrix[suspect])
    votes = y[neighbours[:, 1:]]
    disagree = np.mean(votes != y[suspect][:, None], axis=1)
    return float(np.mean(disagree >= 0.5))
