"""Check a batch of training data against a profile and decide ALLOW, REVIEW or BLOCK.

Each check is a function from a ``BatchView`` to findings; none calls another, and
only the data-check policy turns findings into the decision.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from threadpoolctl import threadpool_limits

from atlasgate.data.checks import backdoor, distribution, labels, rows, schema, validity
from atlasgate.data.checks.context import BatchView
from atlasgate.data.profile import Profile
from atlasgate.data.report import CheckReport, DataFinding
from atlasgate.data.settings import CheckSettings

Check = Callable[[BatchView], list[DataFinding]]

CHECKS: dict[str, Check] = {
    "schema": schema.check,
    "class_shift": distribution.class_shift,
    "label_conditional_drift": distribution.label_conditional_drift,
    "feature_drift": distribution.feature_drift,
    "out_of_range": validity.out_of_range,
    "unseen_category": validity.unseen_category,
    "broken_constraint": validity.broken_constraint,
    "novelty": rows.novelty,
    "duplicates": rows.duplicates,
    "label_flips": labels.label_flips,
    "backdoor_trigger": backdoor.backdoor_trigger,
    "spectral_signature": backdoor.spectral_signature,
}

__all__ = ["CHECKS", "BatchView", "CheckReport", "CheckSettings", "DataFinding", "check_batch"]


def check_batch(
    profile: Profile,
    frame: pd.DataFrame,
    settings: CheckSettings | None = None,
    *,
    batch_name: str = "",
) -> CheckReport:
    """Run every enabled check on ``frame`` and decide by the settings' policy."""
    settings = settings or CheckSettings()
    view = BatchView(profile, frame.reset_index(drop=True), settings)
    findings: list[DataFinding] = []
    run: list[str] = []
    with threadpool_limits(limits=1):  # small matrix products: threads only contend
        for name in settings.checks:
            findings.extend(CHECKS[name](view))
            run.append(name)
    order = {"strong": 0, "moderate": 1, "weak": 2}
    findings.sort(key=lambda f: order[f.strength])
    action, reasons, rules = settings.policy.decide(findings, view.m)
    return CheckReport(
        dataset=settings.dataset,
        rows=view.m,
        decision=action,
        findings=findings,
        reasons=reasons,
        rules=rules,
        profile=profile.source,
        batch=batch_name,
        checks_run=run,
    )
