"""Backdoor signatures: a small feature pattern newly and strongly tied to one label.

Trigger mining: for every exact feature value the batch repeats and every label,
the batch count of rows with both is tested against what the baseline's joint
frequency predicts (Poisson tail, Bonferroni over all
value/label pairs). Significant items that fall on the same rows are
grouped into one pattern; the rows with the pattern and its label are the
suspected poison. Spectral signatures (Tran et al., 2018) look for the same
thing without a pattern: within a class, rows sitting far out along the top
singular direction of the batch, measured from the baseline's class centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.schema import numeric_values
from atlasgate.data.stats import binomial_excess, poisson_excess, robust_z
from atlasgate.data.techniques import BY_CHECK

MIN_CONCENTRATION = 0.5
MIN_LIFT = 3.0
OVERLAP = 0.5


@dataclass
class Item:
    feature: str
    description: str
    label: int
    rows: np.ndarray  # batch rows with the value and the label
    p_value: float
    lift: float


def backdoor_trigger(view: BatchView) -> list[DataFinding]:
    labels = view.labels
    profile = view.profile
    if labels is None or len(profile.classes) < 2:
        return []
    items, tests = _items(view, labels)
    if not items:
        return []
    bonferroni = max(tests, 1)
    significant = [i for i in items if i.p_value * bonferroni < view.settings.alpha]
    if not significant:
        return []
    findings = []
    used: set[int] = set()
    for pattern in _patterns(significant):
        label = pattern[0].label
        need = max(1, math.ceil(0.5 * len(pattern)))
        hits = np.zeros(view.m, dtype=int)
        for item in pattern:
            hits[item.rows] += 1
        rows = np.flatnonzero((hits >= need) & (labels == label))
        rows = np.array([r for r in rows if r not in used], dtype=int)
        if rows.size < view.settings.min_pattern_rows:
            continue
        used.update(rows.tolist())
        p_value = min(1.0, min(i.p_value for i in pattern) * bonferroni)
        share = rows.size / view.m
        settings = view.settings
        strength = settings.strength(p_value, True, rows.size >= settings.min_pattern_rows)
        described = " and ".join(i.description for i in pattern[:6])
        base_rate = _baseline_share(view, pattern, label)
        findings.append(
            DataFinding(
                check="backdoor_trigger",
                test="Poisson test of value/label co-occurrence against the baseline's joint "
                "frequency, Bonferroni over all value/label pairs",
                techniques=BY_CHECK["backdoor_trigger"],
                strength=strength,
                explanation=f"{rows.size} row(s) ({share:.1%}) share the pattern {described} and "
                f"are all labelled {profile.classes[label]!r}; in the baseline this pattern "
                f"went with that label in {base_rate:.2%} of rows "
                f"(lift ×{max(i.lift for i in pattern):.0f})",
                rows=tuple(int(r) for r in rows),
                features=tuple(dict.fromkeys(i.feature for i in pattern)),
                p_value=p_value,
                effect={"share": share, "lift": max(i.lift for i in pattern)},
                detail={
                    "target_label": profile.classes[label],
                    "pattern": [i.description for i in pattern],
                },
            )
        )
    return findings


def _items(view: BatchView, labels: np.ndarray) -> tuple[list[Item], int]:
    profile, frame = view.profile, view.frame
    k = len(profile.classes)
    counts = np.asarray(profile.class_counts, dtype=float)
    priors = counts / max(counts.sum(), 1.0)
    n, m = profile.rows, view.m
    min_rows = view.settings.min_pattern_rows
    items: list[Item] = []
    tests = 0
    for name, stats in profile.numeric.items():
        if name not in frame.columns:
            continue
        values = numeric_values(frame[name])
        finite = np.isfinite(values)
        atoms = stats.get("atoms", {})
        uniques, counts = np.unique(values[finite], return_counts=True)
        for value in uniques[counts >= min_rows]:
            mask = finite & (values == value)
            atom = atoms.get(repr(float(value)))
            joint = atom["classes"] if atom and atom.get("classes") else [0] * k
            marginal = atom["count"] if atom else stats.get("atom_floor", 1)
            found, t = _test(mask, labels, joint, marginal, priors, n, m, min_rows)
            tests += k
            if found:
                items.append(Item(name, f"{name} = {value:g}", t, *found))
    for name, stats in profile.categorical.items():
        if name not in frame.columns:
            continue
        values = frame[name].astype("string").fillna("")
        per_class = stats.get("class_counts", {})
        for value, count in values.value_counts().items():
            if count < min_rows:
                continue
            mask = (values == value).to_numpy()
            joint = per_class.get(value, [0] * k)
            marginal = stats["counts"].get(value, 0)
            found, t = _test(mask, labels, joint, marginal, priors, n, m, min_rows)
            tests += k
            if found:
                items.append(Item(name, f"{name} = {value!r}", t, *found))
    return items, tests


def _test(
    mask: np.ndarray,
    labels: np.ndarray,
    joint: list[int],
    marginal: int,
    priors: np.ndarray,
    n: int,
    m: int,
    min_rows: int,
) -> tuple[tuple[np.ndarray, float, float] | None, int]:
    with_value = labels[mask]
    with_value = with_value[with_value >= 0]
    if with_value.size < min_rows:
        return None, -1
    counts = np.bincount(with_value, minlength=priors.size)
    t = int(np.argmax(counts))
    observed = int(counts[t])
    if observed < min_rows or observed / with_value.size < MIN_CONCENTRATION:
        return None, t
    # A baseline cell count carries its own sampling error (about its square root), so
    # two standard errors are added; a sparse cell is expected to hold at least what the
    # value's and the label's own frequencies predict, so that sparsity is not a trigger.
    base = max(joint[t] + 2.0 * math.sqrt(joint[t]), marginal * priors[t])
    expected = m * (base + 0.5) / (n + 1)
    lift = observed / expected
    if lift < MIN_LIFT:
        return None, t
    rows = np.flatnonzero(mask & (labels == t))
    return (rows, poisson_excess(observed, expected), lift), t


def _patterns(items: list[Item]) -> list[list[Item]]:
    """Group items whose rows overlap (same label); strongest group first."""
    items = sorted(items, key=lambda i: i.p_value)
    groups: list[list[Item]] = []
    taken = [False] * len(items)
    for a, seed in enumerate(items):
        if taken[a]:
            continue
        taken[a] = True
        group = [seed]
        seed_rows = set(seed.rows.tolist())
        for b in range(a + 1, len(items)):
            other = items[b]
            if taken[b] or other.label != seed.label:
                continue
            rows = set(other.rows.tolist())
            if len(rows & seed_rows) / max(1, min(len(rows), len(seed_rows))) >= OVERLAP:
                group.append(other)
                taken[b] = True
        groups.append(_prune(group))
    return groups


def _prune(group: list[Item]) -> list[Item]:
    """Keep one item per feature, the strongest."""
    best: dict[str, Item] = {}
    for item in group:
        if item.feature not in best:
            best[item.feature] = item
    return sorted(best.values(), key=lambda i: i.p_value)


def _baseline_share(view: BatchView, pattern: list[Item], label: int) -> float:
    """The share of rows the baseline predicts for the strongest item and its label."""
    del label
    item = pattern[0]
    return item.rows.size / max(item.lift, 1e-9) / max(view.m, 1)


def spectral_signature(view: BatchView) -> list[DataFinding]:
    labels = view.labels
    profile = view.profile
    if labels is None or view.matrix.shape[1] < 2:
        return []
    settings = view.settings
    findings = []
    for c, centre in enumerate(profile.class_centres):
        members = np.flatnonzero(labels == c)
        if members.size < 30:
            continue
        centred = view.matrix[members] - np.asarray(centre)[None, :]
        _, _, vt = np.linalg.svd(centred - centred.mean(axis=0), full_matrices=False)
        projection = centred @ vt[0]
        z = robust_z(projection)
        beyond = np.abs(z) > settings.spectral_z
        if not beyond.any():
            continue
        side = 1.0 if np.sum(z[beyond] > 0) >= np.sum(z[beyond] < 0) else -1.0
        out = np.flatnonzero(z * side > settings.spectral_z)
        if out.size < settings.min_pattern_rows:
            continue
        rates = profile.extra.get("spectral_rate") or []
        rate = rates[c] if c < len(rates) else 0.02
        p_value = min(1.0, binomial_excess(int(out.size), int(members.size), rate) * len(profile.classes))
        rows = members[out]
        share = rows.size / members.size
        # Informational: on clean data natural sub-clusters also stand out along the top
        # direction often enough (see docs/data.md) that this never gates a batch alone.
        strength = "weak"
        findings.append(
            DataFinding(
                check="spectral_signature",
                test="spectral signature: projection on the top singular vector of the class, "
                f"robust z-score > {settings.spectral_z:g}; binomial test against the baseline's own rate, "
                "Bonferroni over classes",
                techniques=BY_CHECK["spectral_signature"],
                strength=strength,
                explanation=f"{rows.size} row(s) labelled {profile.classes[c]!r} ({share:.1%} of "
                "that class in the batch) sit together far from the class's baseline centre "
                f"along one direction (about {rate:.1%} expected), as poisoned rows with a shared trigger do",
                rows=tuple(int(r) for r in rows),
                features=tuple(_top_directions(view, vt[0])),
                p_value=p_value,
                effect={"share_of_class": share, "expected_share": rate, "max_z": float(np.max(z * side))},
                detail={"class": profile.classes[c]},
            )
        )
    return findings


def _top_directions(view: BatchView, vector: np.ndarray) -> list[str]:
    sources = view.profile.encoder.source_of()
    out: list[str] = []
    for j in np.argsort(-np.abs(vector)):
        if sources[j] not in out:
            out.append(sources[j])
        if len(out) == 5:
            break
    return out
