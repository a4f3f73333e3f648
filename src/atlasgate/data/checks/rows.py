"""Row-level checks: out-of-distribution rows and duplicate injection.

Marginal drift tests cannot see a few percent of odd rows; these checks look at
each row, then ask whether the count of flagged rows is more than a clean batch of
this size would produce.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn.neighbors import NearestNeighbors

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.stats import binomial_excess
from atlasgate.data.techniques import BY_CHECK


def novelty(view: BatchView) -> list[DataFinding]:
    model = view.profile.novelty_model
    scores = model.score(view.matrix)
    flagged = np.flatnonzero(scores > model.threshold)
    if flagged.size == 0:
        return []
    # The threshold is itself estimated from the baseline, so its clean exceedance rate
    # is only known to within about 2/n.
    rate = 1.0 - model.quantile + 2.0 / (view.n + 1)
    p_value = binomial_excess(int(flagged.size), view.m, rate)
    share = flagged.size / view.m
    settings = view.settings
    strength = settings.strength(p_value, True, share >= settings.strong_share)
    order = flagged[np.argsort(-scores[flagged])]
    top = ", ".join(f"row {r} ({scores[r]:.2f})" for r in order[:5])
    features = _deviating_features(view, order[:20])
    return [
        DataFinding(
            check="novelty",
            test="prototype-distance novelty score against the baseline's "
            f"{model.quantile:.1%} quantile; binomial test of the count",
            techniques=BY_CHECK["novelty"],
            strength=strength,
            explanation=f"{flagged.size} row(s) ({share:.1%}) lie outside the baseline's "
            f"distribution (threshold {model.threshold:.2f}, about {rate:.1%} of clean rows "
            f"exceed it); most novel: {top}; most deviating features: {', '.join(features[:5])}",
            rows=tuple(int(r) for r in order),
            features=tuple(features),
            p_value=p_value,
            effect={"share": share, "expected_share": rate, "max_score": float(scores[order[0]])},
            detail={"scores": {int(r): round(float(scores[r]), 3) for r in order[:50]}},
        )
    ]


def _deviating_features(view: BatchView, rows: np.ndarray) -> list[str]:
    if rows.size == 0 or view.matrix.shape[1] == 0:
        return []
    deviation = np.abs(view.matrix[rows]).mean(axis=0)
    sources = view.profile.encoder.source_of()
    ranked: dict[str, float] = defaultdict(float)
    for j in np.argsort(-deviation):
        ranked[sources[j]] = max(ranked[sources[j]], float(deviation[j]))
    return [name for name, _ in sorted(ranked.items(), key=lambda t: -t[1])][:10]


def _batch_radius(scale: dict[str, float], nearest: np.ndarray, radius: float) -> float:
    """The near-copy radius for this batch's density.

    Rows crowd closer together in a bigger sample, so the radius is the baseline's
    ratio of near radius to median nearest-neighbour distance, times this batch's
    median; the share of clean rows inside it then stays the baseline's ``near_rate``.
    """
    ratio = scale.get("near_ratio", 0.0)
    positive = nearest[nearest > 1e-9]
    if ratio <= 0 or positive.size < 50:
        return radius
    return ratio * float(np.median(positive))


def duplicates(view: BatchView) -> list[DataFinding]:
    """Copies within the batch (exact, or closer than baseline rows ever are) and replays."""
    profile = view.profile
    hashes = view.hashes
    groups: dict[str, list[int]] = defaultdict(list)
    for r, h in enumerate(hashes):
        groups[h].append(r)
    extra_exact = {r for rows in groups.values() if len(rows) > 1 for r in rows[1:]}
    replayed = {r for r, h in enumerate(hashes) if h in profile.row_hashes}
    near_replayed: set[int] = set()
    if profile.near_hashes:
        matches = profile.near_matches(view.frame)
        near_replayed = {int(r) for r in np.flatnonzero(matches)} - replayed
    near: set[int] = set()
    radius = profile.duplicates.get("near_radius", 0.0)
    matrix = view.matrix
    if radius > 0 and view.m > 1 and matrix.shape[1] > 0:
        nn = NearestNeighbors(n_neighbors=2).fit(matrix)
        distances, neighbours = nn.kneighbors(matrix)
        radius = _batch_radius(profile.duplicates, distances[:, 1], radius)
        for r in range(view.m):
            d, other = distances[r, 1], int(neighbours[r, 1])
            if d <= radius and r not in extra_exact and hashes[r] != hashes[other] and r > other:
                near.add(r)
    flagged = sorted(extra_exact | near | replayed | near_replayed)
    if not flagged:
        return []
    rate = min(
        1.0,
        profile.duplicates.get("exact_rate", 0.0)
        + profile.duplicates.get("near_rate", 0.0)
        + 1.0 / (profile.rows + 1),
    )
    copies = len(extra_exact | near)
    p_copies = binomial_excess(copies, view.m, rate)
    p_replay = binomial_excess(
        len(replayed), view.m, profile.duplicates.get("exact_rate", 0.0) + 1.0 / (profile.rows + 1)
    )
    near_rate = profile.duplicates.get("near_replay_rate", 0.0)
    p_near = binomial_excess(len(near_replayed), view.m, near_rate + 1.0 / (profile.rows + 1))
    p_value = min(1.0, 3 * min(p_copies, p_replay, p_near))
    share = len(flagged) / view.m
    settings = view.settings
    strength = settings.strength(p_value, True, share >= settings.strong_share)
    largest = max(groups.values(), key=len)
    parts = []
    if extra_exact:
        parts.append(
            f"{len(extra_exact)} exact copies within the batch (largest group: {len(largest)} "
            f"copies of row {largest[0]})"
        )
    if near:
        parts.append(f"{len(near)} near-copies closer than {radius:.3g} (baseline rows almost never are)")
    if replayed:
        parts.append(f"{len(replayed)} row(s) identical to baseline rows")
    if near_replayed:
        parts.append(
            f"{len(near_replayed)} row(s) share a near-duplicate signature with a baseline "
            f"row (about {near_rate * view.m:.1f} expected)"
        )
    return [
        DataFinding(
            check="duplicates",
            test="salted exact-row hashes, near signatures and nearest-neighbour distance; "
            "binomial tests against the baseline's own repetition rates (Bonferroni over 3)",
            techniques=BY_CHECK["duplicates"],
            strength=strength,
            explanation="; ".join(parts),
            rows=tuple(flagged),
            p_value=p_value,
            effect={"share": share, "expected_share": rate},
            detail={
                "exact_copies": len(extra_exact),
                "near_copies": len(near),
                "replayed_baseline_rows": len(replayed),
                "near_replayed_baseline_rows": len(near_replayed),
            },
        )
    ]
