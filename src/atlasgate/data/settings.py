"""Settings of a batch check: significance levels, effect sizes, and the policy.

The defaults are what the benchmark measured against clean resamples (see
docs/data.md); ``from_mapping`` reads the ``data_checks`` section of gateway.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from atlasgate.data.errors import DataError
from atlasgate.data.policy import DataPolicy

ALL_CHECKS = (
    "schema",
    "class_shift",
    "label_conditional_drift",
    "feature_drift",
    "out_of_range",
    "unseen_category",
    "broken_constraint",
    "novelty",
    "duplicates",
    "label_flips",
    "backdoor_trigger",
    "spectral_signature",
)


@dataclass(frozen=True)
class CheckSettings:
    alpha: float = 1e-3
    strong_alpha: float = 1e-6
    strong_share: float = 0.02
    psi_moderate: float = 0.1
    psi_strong: float = 0.25
    ks_moderate: float = 0.1
    class_min_relative_change: float = 0.05
    min_pattern_rows: int = 3
    spectral_z: float = 6.0
    checks: tuple[str, ...] = ALL_CHECKS
    policy: DataPolicy = field(default_factory=DataPolicy.default)
    dataset: str = ""

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, name: str = "<config>") -> CheckSettings:
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise DataError("data_checks must be a mapping", name)
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "rules":
                values["policy"] = DataPolicy.parse({"rules": value}, name)
            elif key == "checks":
                unknown = [c for c in value if c not in ALL_CHECKS]
                if unknown:
                    raise DataError(f"unknown check(s) {', '.join(unknown)}", name)
                values["checks"] = tuple(value)
            elif key in known and key not in ("policy",):
                try:
                    values[key] = type(getattr(cls(), key))(value)
                except (TypeError, ValueError):
                    raise DataError(f"data_checks.{key} has a bad value {value!r}", name) from None
            else:
                raise DataError(f"unknown setting data_checks.{key}", name)
        return replace(cls(), **values)

    def strength(self, p_value: float, effect_ok: bool, strong_effect: bool) -> str:
        """Strength from a corrected p-value and whether the effect is practically large."""
        if p_value < self.strong_alpha and strong_effect:
            return "strong"
        if p_value < self.alpha and effect_ok:
            return "moderate"
        return "weak"
