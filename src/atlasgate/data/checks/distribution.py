"""Distribution shift: class balance, per-feature drift, and drift within each class.

Tests are two-sample against the baseline's summaries (the baseline's own size is
accounted for); p-values are Holm-corrected across the features of a table so that
wide tables do not raise false alarms, and a finding also needs a practically
large effect (PSI, Jensen–Shannon, KS distance, relative change of a class share).
"""

from __future__ import annotations

import numpy as np

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.schema import numeric_values, text_values
from atlasgate.data.stats import (
    chi_square_two_sample,
    holm,
    jensen_shannon,
    ks_against_sketch,
    psi,
)
from atlasgate.data.techniques import BY_CHECK

HINT_ALPHA = 0.05


def class_shift(view: BatchView) -> list[DataFinding]:
    """Class balance: an omnibus chi-square and one test per class against the rest.

    Per-class tests (Holm-corrected) have more power for the usual poisoning shape,
    one class thinned or inflated. A change of at least ``class_min_relative_change``
    is reported as a weak hint when its corrected p-value is below 0.05, and holds the
    batch only at the check's significance level.
    """
    labels = view.labels
    profile = view.profile
    if labels is None or not profile.classes:
        return []
    k = len(profile.classes)
    known = labels[labels >= 0]
    if known.size == 0:
        return []
    base = np.asarray(profile.class_counts, dtype=float)
    batch = np.bincount(known, minlength=k).astype(float)
    statistic, omnibus, dof = chi_square_two_sample(base, batch)
    per_class = holm(
        [
            chi_square_two_sample(
                np.array([base[c], base.sum() - base[c]]), np.array([batch[c], batch.sum() - batch[c]])
            )[1]
            for c in range(k)
        ]
    )
    base_share = base / base.sum()
    batch_share = batch / batch.sum()
    relative = (batch_share - base_share) / np.clip(base_share, 1e-12, None)
    settings = view.settings
    threshold = settings.class_min_relative_change
    moved = [c for c in range(k) if abs(relative[c]) >= threshold]
    if not moved:
        return []
    worst = min(moved, key=lambda c: (per_class[c], -abs(relative[c])))
    change = float(relative[worst])
    p_value = float(min(omnibus, per_class[worst]))
    if p_value >= HINT_ALPHA:
        return []
    strength = settings.strength(p_value, True, abs(change) >= 2.5 * threshold)
    described = ", ".join(
        f"class {profile.classes[c]!r} {base_share[c]:.1%} → {batch_share[c]:.1%} "
        f"({relative[c]:+.0%}, p={per_class[c]:.2g})"
        for c in sorted(moved, key=lambda c: per_class[c])[:3]
    )
    return [
        DataFinding(
            check="class_shift",
            test=f"Pearson chi-square, baseline vs batch class counts (dof {dof}), and each "
            "class against the rest, Holm-corrected",
            techniques=BY_CHECK["class_shift"],
            strength=strength,
            explanation=f"class balance moved: {described}"
            + ("" if strength != "weak" else " (not significant at this batch size)"),
            features=(profile.label or "",),
            p_value=p_value,
            effect={
                "chi2": statistic,
                "omnibus_p": omnibus,
                "largest_relative_change": change,
                "psi": psi(base_share, batch_share),
            },
            detail={"class": profile.classes[worst]},
        )
    ]


def feature_drift(view: BatchView) -> list[DataFinding]:
    profile, frame, settings = view.profile, view.frame, view.settings
    names, tests, p_values, effects = [], [], [], []
    for name, stats in profile.numeric.items():
        if name not in frame.columns:
            continue
        values = numeric_values(frame[name])
        d, p = ks_against_sketch(stats["quantiles"], profile.rows, values)
        edges = np.asarray(stats["edges"], dtype=float)
        base_bins = _base_bins(stats, edges)
        finite = values[np.isfinite(values)]
        batch_bins = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
        names.append(name)
        tests.append("KS")
        p_values.append(p)
        effects.append(
            {"ks": d, "psi": psi(base_bins, batch_bins), "js": jensen_shannon(base_bins, batch_bins)}
        )
    for name, stats in profile.categorical.items():
        if name not in frame.columns:
            continue
        domain = list(stats["counts"])
        base = np.array([stats["counts"][v] for v in domain] + [0], dtype=float)
        values = frame[name].astype("string")
        counts = values.value_counts()
        batch = np.array(
            [counts.get(v, 0) for v in domain]
            + [int(values.notna().sum() - counts.reindex(domain).fillna(0).sum())],
            dtype=float,
        )
        _, p, _ = chi_square_two_sample(base, batch)
        names.append(name)
        tests.append("chi-square")
        p_values.append(p)
        effects.append({"psi": psi(base, batch), "js": jensen_shannon(base, batch)})
    for name, stats in profile.text.items():
        if name not in frame.columns:
            continue
        lengths = text_values(frame[name]).str.len().to_numpy(dtype=float)
        d, p = ks_against_sketch(stats["length_quantiles"], profile.rows, lengths)
        names.append(f"len({name})")
        tests.append("KS")
        p_values.append(p)
        effects.append({"ks": d})
    if not names:
        return []
    adjusted = holm(p_values)
    drifted = []
    strong = []
    for i, p in enumerate(adjusted):
        e = effects[i]
        size = e.get("psi", 0.0)
        big = size >= settings.psi_moderate or e.get("ks", 0.0) >= settings.ks_moderate * 2
        if p < settings.alpha and big:
            drifted.append(i)
            if p < settings.strong_alpha and size >= settings.psi_strong:
                strong.append(i)
    if not drifted:
        return []
    drifted.sort(key=lambda i: adjusted[i])
    share = len(drifted) / len(names)
    strength = "strong" if strong else "moderate"
    listed = ", ".join(
        f"{names[i]} ({tests[i]} p={adjusted[i]:.2g}, PSI={effects[i].get('psi', float('nan')):.2f})"
        for i in drifted[:6]
    )
    return [
        DataFinding(
            check="feature_drift",
            test="two-sample Kolmogorov–Smirnov (numeric) / chi-square (categorical), "
            "Holm-corrected; PSI and Jensen–Shannon as effect sizes",
            techniques=BY_CHECK["feature_drift"],
            strength=strength,
            explanation=f"{len(drifted)} of {len(names)} features drifted: {listed}",
            features=tuple(names[i] for i in drifted),
            p_value=float(adjusted[drifted[0]]),
            effect={
                "drifted_share": share,
                "max_psi": max(effects[i].get("psi", 0.0) for i in drifted),
                "max_js": max(effects[i].get("js", 0.0) for i in drifted),
            },
        )
    ]


def label_conditional_drift(view: BatchView) -> list[DataFinding]:
    """Features that moved within one class, which class-blind drift tests can miss."""
    profile, frame, settings = view.profile, view.frame, view.settings
    labels = view.labels
    if labels is None or not profile.classes:
        return []
    cells, p_values, distances = [], [], []
    for name, stats in profile.numeric.items():
        if name not in frame.columns or "class_quantiles" not in stats:
            continue
        values = numeric_values(frame[name])
        for c, quantiles in enumerate(stats["class_quantiles"]):
            rows = labels == c
            if not quantiles or rows.sum() < 10:
                continue
            d, p = ks_against_sketch(quantiles, int(stats["class_rows"][c]), values[rows])
            cells.append((name, c))
            p_values.append(p)
            distances.append(d)
    if not cells:
        return []
    adjusted = holm(p_values)
    hit = [i for i in np.argsort(adjusted) if adjusted[i] < settings.alpha and distances[i] >= 0.25]
    if not hit:
        return []
    best = float(adjusted[hit[0]])
    strong = best < settings.strong_alpha and max(distances[i] for i in hit) >= 0.4
    listed = ", ".join(
        f"{cells[i][0]} in class {profile.classes[cells[i][1]]!r} (D={distances[i]:.2f})" for i in hit[:6]
    )
    return [
        DataFinding(
            check="label_conditional_drift",
            test="two-sample Kolmogorov–Smirnov per feature within each class, Holm-corrected",
            techniques=BY_CHECK["label_conditional_drift"],
            strength="strong" if strong else "moderate",
            explanation=f"{len(hit)} feature/class pair(s) drifted: {listed}",
            features=tuple(dict.fromkeys(cells[i][0] for i in hit)),
            p_value=best,
            effect={"max_ks": max(distances[i] for i in hit), "pairs": float(len(hit))},
            detail={"classes": sorted({profile.classes[cells[i][1]] for i in hit}, key=str)},
        )
    ]


def _base_bins(stats: dict, edges: np.ndarray) -> np.ndarray:
    if "bin_class_counts" in stats:
        return np.asarray(stats["bin_class_counts"], dtype=float).sum(axis=1)
    quantiles = np.asarray(stats["quantiles"], dtype=float)
    probs = np.linspace(0, 1, len(quantiles))
    cdf = np.interp(edges, quantiles, probs)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))
