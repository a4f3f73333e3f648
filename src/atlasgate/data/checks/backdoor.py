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
from dataclasses import dataclass, replace

import numpy as np

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.schema import numeric_values
from atlasgate.data.stats import binomial_excess, poisson_excess, robust_z
from atlasgate.data.techniques import BY_CHECK

MIN_CONCENTRATION = 0.5
MIN_LIFT = 3.0
OVERLAP = 0.5
RARE = 0.2
# A trigger is chosen not to occur in clean data, or the model would learn it from clean
# rows: a value shared by more than this share of all rows is not a trigger candidate.
RARE_ANYWHERE = 0.05
VALUE_ROWS = 4
# The rows of a small trigger must, as a group, have labels the model doubts: Fisher's
# combination of their doubts at most this. Rare values shared by rows whose labels the
# model believes are left to trigger mining, which knows the baseline's joint counts.
DOUBT_GATE = 0.01
# Exact values of different features are multiplied as if independent; rare values that
# go together (several measurements that are zero at once) are not, so a pattern has at
# most two values.


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
    bonferroni = max(tests, 1)
    significant = [i for i in items if i.p_value * bonferroni < view.settings.alpha]
    findings: list[DataFinding] = []
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
    findings.extend(_small_triggers(view, labels, used))
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
            key = repr(float(value))
            # Profiles written before -0.0 was read as 0.0 may hold the value as "-0.0".
            atom = atoms.get(key) or (atoms.get("-0.0") if key == "0.0" else None)
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


# ---- small triggers: a few rows sharing rare exact values, doubted by the label model ----


@dataclass
class Shared:
    label: int
    features: list[int]  # column positions, rarest value first
    values: list[object]
    rows: np.ndarray  # batch rows: the group that carries the evidence
    among: int  # batch rows with the label
    chances: list[float]  # per value: how often a clean row holds it
    doubt: float  # chance that clean rows are doubted this much by the label model
    p_value: float


def _small_triggers(view: BatchView, labels: np.ndarray, used: set[int]) -> list[DataFinding]:
    """A trigger carried by only a few rows: shared rare values on rows the model doubts.

    Evidence that needs no minimum count of rows, combined in one chance bound:

    - the values: the rows hold the same exact values on two features, each rare among
      rows of the label and in all the data. If a clean row holds a value with
      probability π, r given rows all holding it have probability π^(r-1) once the
      first is fixed (π from the baseline's and the rest of the batch's counts of
      that exact value); the exponent stops at ``VALUE_ROWS - 1``;
    - the label: a dirty-label trigger is put on rows of other classes and relabelled,
      so the baseline's label model gives those rows' label less probability than clean
      rows usually get; each row's doubt is the share of clean baseline rows (out of
      fold) the model gave as little, and the r shares are combined with Fisher's
      method. The doubt that counts is measured with the two features set to the
      label's baseline centre, so that a row doubted for its odd values does not count
      those values twice;
    - the bound runs over every group of r rows with the label, every feature pair and
      every label.
    """
    profile = view.profile
    model = profile.label_model
    if model is None or model.confidence_cdf is None:
        return []
    doubt = _doubt(view, labels)
    columns = _value_columns(view, labels)
    if not columns:
        return []
    findings: list[DataFinding] = []
    for label in range(len(profile.classes)):
        members = np.array([r for r in np.flatnonzero(labels == label) if r not in used], dtype=int)
        shared = _best_group(view, columns, label, members, doubt[members])
        if shared is None or shared.p_value >= view.settings.alpha:
            continue
        # Rows that are odd on a feature may be doubted because of that very feature;
        # the doubt that counts is the one left with the pattern's features set to the
        # label's baseline centre, so that value and doubt are separate evidence.
        shared = _without_pattern(view, columns, shared)
        if shared.p_value >= view.settings.alpha:
            continue
        holding = labels == label
        for j, value in zip(shared.features, shared.values, strict=True):
            holding &= _equal(columns[j].values, value)
        rows = np.array([r for r in np.flatnonzero(holding) if r not in used], dtype=int)
        used.update(rows.tolist())
        findings.append(_shared_finding(view, columns, shared, rows))
    return findings


def _without_pattern(view: BatchView, columns: list[ValueColumn], shared: Shared) -> Shared:
    model = view.profile.label_model
    assert model is not None
    names = {columns[j].name for j in shared.features}
    dims = [i for i, source in enumerate(view.profile.encoder.source_of()) if source in names]
    matrix = view.matrix[shared.rows].copy()
    matrix[:, dims] = np.asarray(view.profile.class_centres[shared.label])[dims]
    proba = model.proba(matrix)[:, shared.label]
    log_doubt = _log_fisher(model.doubt(proba, np.full(proba.size, shared.label)))
    log_p = math.log(max(shared.p_value, 1e-300)) - math.log(max(shared.doubt, 1e-300)) + log_doubt
    return replace(shared, doubt=math.exp(log_doubt), p_value=math.exp(min(log_p, 0.0)))


def _doubt(view: BatchView, labels: np.ndarray) -> np.ndarray:
    """Per row: the share of clean baseline rows whose own label got as little probability."""
    model = view.profile.label_model
    out = np.ones(view.m)
    known = np.flatnonzero(labels >= 0)
    if model is not None and known.size:
        proba = model.proba(view.matrix[known])
        out[known] = model.doubt(proba[np.arange(known.size), labels[known]], labels[known])
    return out


@dataclass
class ValueColumn:
    """One feature's batch values, coded, with their counts in the batch and the baseline."""

    name: str
    values: np.ndarray
    codes: np.ndarray  # index into uniques; -1 where the value is missing
    uniques: np.ndarray
    in_batch: np.ndarray  # rows of the batch holding each value
    by_label: np.ndarray  # classes × values
    base_counts: dict[str, list[int]]  # baseline per-class counts of listed values
    floor: int  # the most an unlisted value can have occurred in the baseline


def _value_columns(view: BatchView, labels: np.ndarray) -> list[ValueColumn]:
    out: list[ValueColumn] = []
    frame, k = view.frame, len(view.profile.classes)
    raw: list[tuple[str, np.ndarray, np.ndarray, dict[str, list[int]], int]] = []
    for name, stats in view.profile.numeric.items():
        if name in frame.columns:
            values = numeric_values(frame[name])
            counts = {key: list(a.get("classes") or []) for key, a in stats.get("atoms", {}).items()}
            raw.append((name, values, np.isfinite(values), counts, int(stats.get("atom_floor", 1))))
    for name, stats in view.profile.categorical.items():
        if name in frame.columns:
            values = frame[name].astype("string").fillna("").to_numpy(dtype=object)
            counts = {repr(str(v)): list(c) for v, c in stats.get("class_counts", {}).items()}
            raw.append((name, values, values != "", counts, 0))
    known = labels >= 0
    for name, values, present, counts, floor in raw:
        codes = np.full(values.size, -1, dtype=int)
        uniques, inverse = np.unique(values[present], return_inverse=True)
        codes[present] = inverse
        by_label = np.zeros((k, uniques.size))
        both = present & known
        np.add.at(by_label, (labels[both], codes[both]), 1.0)
        in_batch = np.bincount(codes[present], minlength=uniques.size).astype(float)
        out.append(ValueColumn(name, values, codes, uniques, in_batch, by_label, counts, floor))
    return out


def _equal(values: np.ndarray, value: object) -> np.ndarray:
    return np.asarray(values == value, dtype=bool)


def _key(value: object) -> str:
    return repr(float(value) + 0.0) if isinstance(value, float | np.floating) else repr(str(value))


def _best_group(
    view: BatchView,
    columns: list[ValueColumn],
    label: int,
    members: np.ndarray,
    doubt: np.ndarray,
) -> Shared | None:
    """The most surprising group of rows of one label that share rare exact values."""
    m_t = members.size
    if m_t < 2:
        return None
    labels = view.labels
    assert labels is not None
    of_label = labels == label
    class_counts = view.profile.class_counts
    # Rows of this label in the baseline and the batch: the population a group is drawn from.
    total = (class_counts[label] if label < len(class_counts) else 0) + int(of_label.sum())
    # Items: (feature, value) held by at least two rows of the label, rare among rows of
    # the label (so that values which simply go with the class are not evidence) and
    # rare in the data as a whole.
    features: list[int] = []
    values: list[object] = []
    counts: list[tuple[float, float]] = []
    incidence: list[np.ndarray] = []
    for j, column in enumerate(columns):
        held = column.codes[members]
        number = np.bincount(held[held >= 0], minlength=column.uniques.size)
        for u in np.flatnonzero(number >= 2):
            value = column.uniques[u]
            in_batch = float(column.by_label[label, u])
            per_class = column.base_counts.get(_key(value))
            floor = float(column.floor)
            base = float(per_class[label]) if per_class and label < len(per_class) else floor
            if (base + in_batch - number[u] + 1.0) / (total - number[u] + 1.0) > RARE:
                continue
            everywhere = (float(sum(per_class)) if per_class else floor) + column.in_batch[u] - number[u]
            if (everywhere + 1.0) / (view.n + view.m - number[u] + 1.0) > RARE_ANYWHERE:
                continue
            features.append(j)
            values.append(value)
            counts.append((base, in_batch))
            incidence.append(held == u)
    if not incidence:
        return None
    matrix = np.array(incidence)
    as_float = matrix.astype(np.float32)  # exact counts below 2**24 rows, and BLAS speed
    overlap = as_float @ as_float.T
    # Fisher's p is at least the product of the doubts, so groups whose product is above
    # the gate are skipped before the bound is computed.
    log_doubt = np.log(np.clip(doubt, 1e-300, 1.0))
    product = (matrix * log_doubt[None, :]) @ matrix.T.astype(float)
    gate = math.log(DOUBT_GATE)
    feature_of = np.asarray(features)
    pairs = (overlap >= 2) & (product <= gate) & (feature_of[:, None] != feature_of[None, :])
    # Two values at least: one shared value on a few doubted rows is what a natural
    # sub-style of a class looks like (odd 4s without ink at the top), and the rows'
    # doubt and their value are then not independent evidence.
    groups = [[int(a), int(b)] for a, b in zip(*np.nonzero(np.triu(pairs, 1)), strict=True)]
    best: Shared | None = None
    for items in groups:
        rows = matrix[items[0]] if len(items) == 1 else matrix[items[0]] & matrix[items[1]]
        found = _bound(view, columns, label, members, doubt, items, rows, features, values, counts, total)
        if found is not None and (best is None or found.p_value < best.p_value):
            best = found
    return best


def _bound(
    view: BatchView,
    columns: list[ValueColumn],
    label: int,
    members: np.ndarray,
    doubt: np.ndarray,
    items: list[int],
    rows: np.ndarray,
    features: list[int],
    values: list[object],
    counts: list[tuple[float, float]],
    total: int,
) -> Shared | None:
    m_t, d, k = members.size, len(columns), len(view.profile.classes)
    holders = np.flatnonzero(rows)
    r = holders.size
    if r < 2:
        return None
    # The feature pairs, the labels, the groups of r rows of the label.
    log_bound = math.log(k) + _log_choose(d, len(items)) + _log_choose(m_t, r)
    chances = [(counts[i][0] + (counts[i][1] - r) + 1.0) / (total - r + 1.0) for i in items]
    # Rows of a natural sub-group share values more often than independent rows would,
    # so beyond the first few rows, holding the values adds no evidence here: larger
    # groups must be carried by the model's doubt or by trigger mining.
    repeats = min(r, VALUE_ROWS) - 1
    log_bound += repeats * sum(math.log(min(max(c, 1e-300), 1.0)) for c in chances)
    doubt_term = _log_fisher(doubt[holders])
    if doubt_term > math.log(DOUBT_GATE):
        return None
    return Shared(
        label=label,
        features=[features[i] for i in items],
        values=[values[i] for i in items],
        rows=members[holders],
        among=m_t,
        chances=chances,
        doubt=math.exp(doubt_term),
        p_value=math.exp(min(log_bound + doubt_term, 0.0)),
    )


def _log_fisher(shares: np.ndarray) -> float:
    """log P(product of r uniform shares ≤ the observed product) (Fisher's method)."""
    log_x = float(np.sum(np.log(np.clip(shares, 1e-300, 1.0))))
    r = shares.size
    terms = [j * math.log(-log_x) - math.lgamma(j + 1) for j in range(r)] if log_x < 0 else [0.0]
    peak = max(terms)
    return min(0.0, log_x + peak + math.log(sum(math.exp(t - peak) for t in terms)))


def _log_choose(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def _shared_finding(
    view: BatchView,
    columns: list[ValueColumn],
    shared: Shared,
    rows: np.ndarray,
) -> DataFinding:
    profile, settings = view.profile, view.settings
    label = profile.classes[shared.label]
    names = [columns[j].name for j in shared.features]
    described = " and ".join(
        f"{name} = {_show(value)} (a clean row holds it with probability about {c:.2%})"
        for name, value, c in zip(names, shared.values, shared.chances, strict=True)
    )
    strength = settings.strength(shared.p_value, True, rows.size >= settings.min_pattern_rows)
    share = rows.size / max(view.m, 1)
    return DataFinding(
        check="backdoor_trigger",
        test="shared rare exact values on two features among rows of one label, combined "
        "(Fisher) with how much the baseline label model doubts each row's label; chance "
        "bound over every group of rows, feature pair and label",
        techniques=BY_CHECK["backdoor_trigger"],
        strength=strength,
        explanation=f"{rows.size} row(s) labelled {label!r} share {described}; even with "
        "these values set to the label's usual ones, the baseline model doubts the label "
        f"of these rows as much as it doubts clean rows with probability {shared.doubt:.2g}; "
        "together chance explains this with probability "
        f"{shared.p_value:.2g}. A few rows relabelled with a common trigger look like this.",
        rows=tuple(int(r) for r in rows),
        features=tuple(names),
        p_value=shared.p_value,
        effect={"share": share, "label_doubt": shared.doubt},
        detail={
            "target_label": label,
            "pattern": [f"{n} = {_show(v)}" for n, v in zip(names, shared.values, strict=True)],
        },
    )


def _show(value: object) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else repr(value)
