"""Impossible values: outside learned ranges, non-integers, unseen categories, broken orderings.

New data legitimately lands just beyond a finite sample's extremes now and then
(about 2/(n+1) of rows per feature for continuous data), so each feature's count of
excursions is tested against that rate with a Poisson tail and Holm correction;
every offending row is listed either way.
"""

from __future__ import annotations

import numpy as np

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.schema import numeric_values
from atlasgate.data.stats import holm, poisson_excess
from atlasgate.data.techniques import BY_CHECK


def out_of_range(view: BatchView) -> list[DataFinding]:
    profile, frame = view.profile, view.frame
    base_rate = 2.0 / (profile.rows + 1)
    names: list[str] = []
    p_values: list[float] = []
    rows_by: list[np.ndarray] = []
    notes: list[str] = []
    for name, stats in profile.numeric.items():
        if name not in frame.columns:
            continue
        values = numeric_values(frame[name])
        finite = np.isfinite(values)
        outside = finite & ((values < stats["low"]) | (values > stats["high"]))
        fractional = finite & (np.mod(values, 1) != 0) if stats.get("integer") else np.zeros_like(finite)
        for mask, what, rate in (
            (outside, "outside", base_rate),
            (fractional, "non-integer", 1.0 / (profile.rows + 1)),
        ):
            k = int(mask.sum())
            if k == 0:
                continue
            names.append(name)
            p_values.append(poisson_excess(k, view.m * rate))
            rows_by.append(np.flatnonzero(mask))
            if what == "outside":
                seen = values[mask]
                notes.append(
                    f"{name}: {k} row(s) outside [{stats['low']:.4g}, {stats['high']:.4g}]"
                    f" (saw {seen.min():.4g}…{seen.max():.4g})"
                )
            else:
                notes.append(f"{name}: {k} non-integer value(s) where the baseline had only integers")
    return _finding(
        view,
        "out_of_range",
        "Poisson test of excursions beyond the learned range (rate 2/(n+1)), Holm-corrected",
        names,
        p_values,
        rows_by,
        notes,
        "values outside what the baseline ever held",
    )


def unseen_category(view: BatchView) -> list[DataFinding]:
    profile, frame = view.profile, view.frame
    names, p_values, rows_by, notes = [], [], [], []
    for name, stats in profile.categorical.items():
        if name not in frame.columns:
            continue
        counts = stats["counts"]
        singletons = sum(1 for c in counts.values() if c == 1)
        rate = max(singletons, 1) / (profile.rows + 1)  # Good–Turing mass of unseen values
        values = frame[name].astype("string")
        mask = (values.notna() & ~values.isin(list(counts))).to_numpy()
        k = int(mask.sum())
        if k == 0:
            continue
        names.append(name)
        p_values.append(poisson_excess(k, view.m * rate))
        rows_by.append(np.flatnonzero(mask))
        new = sorted(set(values[mask].tolist()))
        notes.append(f"{name}: {k} row(s) with unseen value(s) " + ", ".join(map(repr, new[:5])))
    return _finding(
        view,
        "unseen_category",
        "Poisson test of unseen categories against the Good–Turing unseen mass, Holm-corrected",
        names,
        p_values,
        rows_by,
        notes,
        "categories the baseline never had",
    )


def broken_constraint(view: BatchView) -> list[DataFinding]:
    profile, frame = view.profile, view.frame
    rate = 1.0 / (profile.rows + 1)
    names, p_values, rows_by, notes = [], [], [], []
    for a, b in profile.constraints:
        if a not in frame.columns or b not in frame.columns:
            continue
        left, right = numeric_values(frame[a]), numeric_values(frame[b])
        mask = np.isfinite(left) & np.isfinite(right) & (left > right)
        k = int(mask.sum())
        if k == 0:
            continue
        names.append(f"{a} <= {b}")
        p_values.append(poisson_excess(k, view.m * rate))
        rows_by.append(np.flatnonzero(mask))
        notes.append(f"{a} > {b} in {k} row(s), never in the baseline")
    return _finding(
        view,
        "broken_constraint",
        "Poisson test of violations of orderings that held on every baseline row, Holm-corrected",
        names,
        p_values,
        rows_by,
        notes,
        "combinations the baseline never had",
    )


def _finding(
    view: BatchView,
    check: str,
    test: str,
    names: list[str],
    p_values: list[float],
    rows_by: list[np.ndarray],
    notes: list[str],
    what: str,
) -> list[DataFinding]:
    if not names:
        return []
    adjusted = holm(p_values)
    rows = sorted({int(r) for part in rows_by for r in part})
    share = len(rows) / max(view.m, 1)
    best = float(adjusted.min())
    significant = [i for i in np.argsort(adjusted) if adjusted[i] < view.settings.alpha]
    listed = significant or list(np.argsort(adjusted))
    strength = view.settings.strength(best, True, share >= view.settings.strong_share)
    features = tuple(dict.fromkeys(names[i] for i in listed))
    return [
        DataFinding(
            check=check,
            test=test,
            techniques=BY_CHECK[check],
            strength=strength,
            explanation=f"{len(rows)} row(s) ({share:.1%}) hold {what}; "
            + "; ".join(notes[i] for i in listed[:6]),
            rows=tuple(rows),
            features=features,
            p_value=best,
            effect={"share": share},
        )
    ]
