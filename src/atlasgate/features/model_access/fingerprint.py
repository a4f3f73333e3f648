"""Blacklight-style fingerprints: quantise an input, hash sliding windows, keep the smallest hashes.

Two inputs that differ by a small perturbation quantise to the same values in
most windows, so they share most of their fingerprint, while two different
natural inputs share few. Windows that most training rows contain (blank
borders, constant columns) are stop-listed, since they would match everything.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MIN_FEATURES = 16
STEP = 0.5  # quantisation step, in standard deviations of each feature
SIZE = 24  # hashes kept per input
_MULTIPLIER = np.int64(0x5BD1E995)
_POSITION = np.int64(0x27D4EB2F)


def window_width(features: int) -> int:
    return int(min(8, max(2, features // 8)))


def window_hashes(encoded: np.ndarray, step: float = STEP) -> np.ndarray:
    """(n, windows) int64 hashes of every quantised window, position included."""
    quantised = np.floor(encoded / step).astype(np.int64)
    width = window_width(encoded.shape[1])
    windows = sliding_window_view(quantised, width, axis=1)
    powers = _MULTIPLIER ** np.arange(width, dtype=np.int64)
    with np.errstate(over="ignore"):
        hashes = (windows * powers).sum(axis=2)
        hashes ^= np.arange(hashes.shape[1], dtype=np.int64) * _POSITION
    return hashes


def fingerprints(encoded: np.ndarray, stop: np.ndarray, size: int = SIZE) -> list[np.ndarray]:
    """The fingerprint of each row: its ``size`` smallest hashes that are not stop-listed."""
    out = []
    for row in window_hashes(encoded):
        kept = np.unique(row)
        if stop.size:
            kept = kept[~np.isin(kept, stop, assume_unique=True)]
        out.append(kept[:size])
    return out


def stop_list(encoded: np.ndarray, share: float = 0.01) -> np.ndarray:
    """Hashes that more than ``share`` of the training rows contain."""
    hashes = window_hashes(encoded)
    per_row = [np.unique(row) for row in hashes]
    values, counts = np.unique(np.concatenate(per_row), return_counts=True)
    return np.sort(values[counts > max(1, share * encoded.shape[0])])
