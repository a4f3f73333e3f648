"""Schema changes: missing or new columns, numbers that are no longer numbers, new labels."""

from __future__ import annotations

import numpy as np

from atlasgate.data.checks.context import BatchView
from atlasgate.data.report import DataFinding
from atlasgate.data.schema import NUMERIC, unparseable_numbers
from atlasgate.data.stats import binomial_excess, holm
from atlasgate.data.techniques import BY_CHECK

TECHNIQUES = BY_CHECK["schema"]


def check(view: BatchView) -> list[DataFinding]:
    profile, frame = view.profile, view.frame
    findings: list[DataFinding] = []
    present = set(frame.columns)
    missing = [f for f in profile.features if f not in present]
    if profile.label is not None and profile.label not in present:
        missing.append(profile.label)
    if missing:
        findings.append(
            DataFinding(
                check="schema",
                test="column set compared with the profile",
                techniques=TECHNIQUES,
                strength="strong",
                explanation=f"{len(missing)} column(s) the profile needs are missing: "
                + ", ".join(missing[:10]),
                features=tuple(missing),
            )
        )
    known = {c.name for c in profile.columns}
    extra = [c for c in frame.columns if c not in known]
    if extra:
        findings.append(
            DataFinding(
                check="schema",
                test="column set compared with the profile",
                techniques=TECHNIQUES,
                strength="moderate",
                explanation=f"{len(extra)} column(s) not in the profile: " + ", ".join(extra[:10]),
                features=tuple(extra),
            )
        )
    kinds = {c.name: c.kind for c in profile.columns}
    bad_rows: set[int] = set()
    bad_features: list[str] = []
    for name in profile.features:
        if name in present and kinds.get(name) == NUMERIC:
            bad = np.flatnonzero(unparseable_numbers(frame[name]))
            if bad.size:
                bad_features.append(name)
                bad_rows.update(bad.tolist())
    if bad_features:
        share = len(bad_rows) / max(view.m, 1)
        findings.append(
            DataFinding(
                check="schema",
                test="type check against the profile's column kinds",
                techniques=TECHNIQUES,
                strength="strong" if share >= view.settings.strong_share else "moderate",
                explanation=f"{len(bad_rows)} row(s) hold text where the profile has numbers, in "
                + ", ".join(bad_features[:10]),
                rows=tuple(sorted(bad_rows)),
                features=tuple(bad_features),
                effect={"share": share},
            )
        )
    findings.extend(_missing_values(view))
    labels = view.labels
    if labels is not None and np.any(labels < 0):
        rows = np.flatnonzero(labels < 0)
        values = sorted({str(v) for v in view.frame[profile.label].iloc[rows].tolist()})
        findings.append(
            DataFinding(
                check="schema",
                test="label domain compared with the profile's classes",
                techniques=TECHNIQUES,
                strength="strong",
                explanation=f"{rows.size} row(s) carry label(s) never seen in the baseline: "
                + ", ".join(values[:10]),
                rows=tuple(rows.tolist()),
                features=(profile.label or "",),
            )
        )
    return findings


def _missing_values(view: BatchView) -> list[DataFinding]:
    """More missing values than the baseline had, feature by feature (binomial, Holm)."""
    profile, frame = view.profile, view.frame
    names, p_values, counts, rows_by = [], [], [], []
    for name in profile.features:
        if name not in frame.columns:
            continue
        stats = profile.numeric.get(name) or profile.categorical.get(name) or profile.text.get(name)
        base_rate = float(stats.get("missing", 0.0)) if stats else 0.0
        expected = max(base_rate, 1.0 / (profile.rows + 1))
        missing = frame[name].isna().to_numpy()
        k = int(missing.sum())
        if k == 0:
            continue
        names.append(name)
        p_values.append(binomial_excess(k, view.m, expected))
        counts.append(k)
        rows_by.append(np.flatnonzero(missing))
    if not names:
        return []
    adjusted = holm(p_values)
    hit = [i for i, p in enumerate(adjusted) if p < view.settings.alpha]
    if not hit:
        return []
    rows = sorted({int(r) for i in hit for r in rows_by[i]})
    share = len(rows) / max(view.m, 1)
    best = float(min(adjusted[i] for i in hit))
    return [
        DataFinding(
            check="schema",
            test="binomial test of missing-value counts against the baseline rate, Holm-corrected",
            techniques=TECHNIQUES,
            strength=view.settings.strength(best, True, share >= view.settings.strong_share),
            explanation=f"missing values rose in {len(hit)} column(s): "
            + ", ".join(f"{names[i]} ({counts[i]} rows)" for i in hit[:8]),
            rows=tuple(rows),
            features=tuple(names[i] for i in hit),
            p_value=best,
            effect={"share": share},
        )
    ]
