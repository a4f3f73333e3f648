"""The statistical tests the checks name in their findings, in one place.

Baselines are kept as quantile sketches and binned counts (never rows), so the
two-sample tests here compare a batch against those summaries while still
accounting for the baseline's own sample size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

EPS = 1e-6


def ks_against_sketch(quantiles: Sequence[float], n_baseline: int, sample: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and p-value, baseline given by its sketch."""
    sample = np.sort(sample[np.isfinite(sample)])
    m = sample.size
    if m == 0:
        return 0.0, 1.0
    q = np.asarray(quantiles, dtype=float)
    grid = np.unique(np.concatenate([q, sample]))
    base = _sketch_step_cdf(q, grid)
    batch = np.searchsorted(sample, grid, side="right") / m
    statistic = float(np.max(np.abs(base - batch)))
    effective = max(1, round(n_baseline * m / (n_baseline + m)))
    p_value = float(sps.kstwo.sf(statistic, effective))
    return statistic, min(1.0, max(0.0, p_value))


def _sketch_step_cdf(quantiles: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Right-continuous CDF from a quantile sketch, exact for atoms (repeated quantiles)."""
    probs = np.linspace(0.0, 1.0, len(quantiles))
    right = np.searchsorted(quantiles, grid, side="right")
    r = np.clip(right, 1, len(quantiles) - 1)
    left_q, right_q = quantiles[r - 1], quantiles[r]
    width = right_q - left_q
    frac = np.where(width > 0, (grid - left_q) / np.where(width > 0, width, 1.0), 0.0)
    out = probs[r - 1] + np.clip(frac, 0.0, 1.0) * (probs[r] - probs[r - 1])
    out[right == 0] = 0.0
    out[right >= len(quantiles)] = 1.0
    return out


def chi_square_two_sample(baseline_counts: np.ndarray, batch_counts: np.ndarray) -> tuple[float, float, int]:
    """Pearson chi-square on the 2×K table of baseline vs batch counts."""
    keep = (baseline_counts + batch_counts) > 0
    table = np.vstack([baseline_counts[keep], batch_counts[keep]]).astype(float)
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0, 0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return statistic, float(sps.chi2.sf(statistic, dof)), dof


def psi(baseline_share: np.ndarray, batch_share: np.ndarray) -> float:
    """Population stability index; 0.1 is a moderate shift, 0.25 a large one."""
    a = np.clip(baseline_share, EPS, None)
    b = np.clip(batch_share, EPS, None)
    a, b = a / a.sum(), b / b.sum()
    return float(np.sum((b - a) * np.log(b / a)))


def jensen_shannon(baseline_share: np.ndarray, batch_share: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits, in [0, 1]."""
    a = np.clip(baseline_share, 0, None)
    b = np.clip(batch_share, 0, None)
    if a.sum() == 0 or b.sum() == 0:
        return 0.0
    a, b = a / a.sum(), b / b.sum()
    mid = (a + b) / 2

    def kl(p: np.ndarray, q: np.ndarray) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))

    return (kl(a, mid) + kl(b, mid)) / 2


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(p_values, dtype=float)
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p)
    adjusted = np.empty(n)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (n - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def poisson_excess(observed: int, expected: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected): is a count more than chance allows?"""
    if observed <= 0:
        return 1.0
    return float(sps.poisson.sf(observed - 1, max(expected, 1e-12)))


def binomial_excess(observed: int, trials: int, rate: float) -> float:
    if observed <= 0:
        return 1.0
    return float(sps.binom.sf(observed - 1, trials, min(max(rate, 1e-12), 1.0)))


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 · MAD), with a floor so constant data does not divide by 0."""
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    scale = mad if mad > 1e-9 else (float(np.std(values)) or 1.0)
    return (values - median) / scale
