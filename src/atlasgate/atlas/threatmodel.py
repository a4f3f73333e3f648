"""Threat model: the ATLAS techniques that apply to each asset, what covers them, and the gaps.

Which techniques apply comes from ``applicability.yaml`` (rules on kind, exposure,
access and data sensitivity, each with its reason). What covers them comes from
the gateway configuration (for assets behind the gateway) and from the external
controls each asset declares. Gaps are ranked by impact × likelihood, where
likelihood draws on the technique's maturity and how many ATLAS case studies used it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from atlasgate.atlas.assets import ACCESS, KINDS, SENSITIVITY, Asset, AssetModel
from atlasgate.atlas.controls import Control, ControlSet, Strength
from atlasgate.atlas.coverage import CoveringControl, compute_coverage
from atlasgate.atlas.index import AtlasIndex, Mitigation, Technique
from atlasgate.atlas.mitigations import mitigations_in_place

IMPACT = {"low": 2, "medium": 3, "high": 4, "critical": 5}
EXPOSURE_FACTOR = {"public": 1.0, "partner": 0.8, "internal": 0.6}
RESIDUAL = {"none": 1.0, "partial": 0.85, "detect": 0.7, "constrain": 0.45, "block": 0.25}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kinds: tuple[str, ...]
    exposure: tuple[str, ...]
    access: tuple[str, ...]
    sensitivity: tuple[str, ...]
    techniques: tuple[str, ...]
    impact: str
    impact_by_sensitivity: Mapping[str, str]
    reason: str

    def applies(self, asset: Asset) -> bool:
        return (asset.kind in self.kinds
                and (not self.exposure or asset.exposure in self.exposure)
                and (not self.access or asset.access in self.access)
                and (not self.sensitivity or asset.data_sensitivity in self.sensitivity))

    def impact_for(self, asset: Asset) -> str:
        return self.impact_by_sensitivity.get(asset.data_sensitivity, self.impact)


def parse_rules(data: Any, index: AtlasIndex) -> list[Rule]:
    """Rules from the data file, checked against ATLAS and the asset vocabulary."""
    rules = []
    for item in (data or {}).get("rules", []):
        rid = item["id"]
        techniques = tuple(item["techniques"])
        for tid in techniques:
            index.technique(tid)
        kinds = tuple(item["kinds"])
        unknown = [k for k in kinds if k not in KINDS]
        by_sensitivity = dict(item.get("impact_by_sensitivity") or {})
        impacts = [item.get("impact", "medium"), *by_sensitivity.values()]
        if unknown or any(i not in IMPACT for i in impacts) \
                or any(a not in ACCESS for a in item.get("access", [])) \
                or any(s not in SENSITIVITY for s in [*item.get("sensitivity", []),
                                                       *by_sensitivity]):
            raise ValueError(f"applicability rule {rid}: unknown kind, access, sensitivity "
                             "or impact")
        rules.append(Rule(rid, kinds, tuple(item.get("exposure", ())),
                          tuple(item.get("access", ())), tuple(item.get("sensitivity", ())),
                          techniques, item.get("impact", "medium"), by_sensitivity,
                          " ".join(str(item["reason"]).split())))
    return rules


@functools.lru_cache(maxsize=1)
def _shipped_rule_data() -> Any:
    text = resources.files("atlasgate.atlas").joinpath("applicability.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def shipped_rules(index: AtlasIndex) -> list[Rule]:
    return parse_rules(_shipped_rule_data(), index)


@dataclass(slots=True)
class Threat:
    """One technique against one asset."""

    technique: Technique
    reasons: list[tuple[str, str]]
    impact: int
    likelihood: float
    controls: list[CoveringControl]
    strength: Strength
    partial: bool
    mitigations: list[Mitigation]

    @property
    def status(self) -> str:
        if not self.controls:
            return "none"
        return "partial" if self.partial else self.strength.label

    @property
    def risk(self) -> float:
        return round(self.impact * self.likelihood, 2)

    @property
    def residual(self) -> float:
        return round(self.risk * RESIDUAL[self.status], 2)

    @property
    def is_gap(self) -> bool:
        return self.status == "none"


@dataclass(slots=True)
class AssetThreats:
    asset: Asset
    threats: list[Threat] = field(default_factory=list)

    def gaps(self) -> list[Threat]:
        return sorted((t for t in self.threats if t.is_gap),
                      key=lambda t: (-t.risk, t.technique.id))

    def weak(self) -> list[Threat]:
        """Seen but not prevented: detection only, or only some sub-techniques covered."""
        return sorted((t for t in self.threats if t.status in ("detect", "partial")),
                      key=lambda t: (-t.residual, t.technique.id))


@dataclass(slots=True)
class ThreatModel:
    system: str
    source: str
    config: str | None
    index: AtlasIndex
    assets: list[AssetThreats]
    warnings: list[str]
    in_place: dict[str, str] = field(default_factory=dict)

    def ranked_gaps(self) -> list[tuple[Asset, Threat]]:
        rows = [(a.asset, t) for a in self.assets for t in a.gaps()]
        return sorted(rows, key=lambda r: (-r[1].risk, r[0].id, r[1].technique.id))

    def technique_status(self) -> dict[str, str]:
        """The worst status of each applicable technique across all assets (for the matrix)."""
        order = ["none", "partial", "detect", "constrain", "block"]
        worst: dict[str, str] = {}
        for a in self.assets:
            for t in a.threats:
                tid = t.technique.id
                if tid not in worst or order.index(t.status) < order.index(worst[tid]):
                    worst[tid] = t.status
        return worst

    def as_dict(self) -> dict[str, Any]:
        def threat(t: Threat) -> dict[str, Any]:
            return {
                "technique": t.technique.id,
                "name": t.technique.name,
                "tactics": list(t.technique.tactics),
                "why": [{"rule": r, "reason": text} for r, text in t.reasons],
                "impact": t.impact,
                "likelihood": t.likelihood,
                "risk": t.risk,
                "residual_risk": t.residual,
                "coverage": t.status,
                "controls": [{"name": c.control.name, "kind": c.control.kind,
                              "strength": c.control.strength.label, "via": c.via,
                              "source": c.control.source} for c in t.controls],
                "mitigations": [{"id": m.id, "name": m.name,
                                 "in_place": self.in_place.get(m.id)} for m in t.mitigations],
            }

        return {
            "system": self.system,
            "assets_file": self.source,
            "gateway_config": self.config,
            "atlas_version": self.index.version,
            "assets": [{
                "id": a.asset.id,
                "name": a.asset.name,
                "kind": a.asset.kind,
                "exposure": a.asset.exposure,
                "access": a.asset.access,
                "data_sensitivity": a.asset.data_sensitivity,
                "behind_gateway": a.asset.behind_gateway,
                "threats": [threat(t) for t in a.threats],
                "gaps": [t.technique.id for t in a.gaps()],
            } for a in self.assets],
            "ranked_gaps": [{"asset": asset.id, "technique": t.technique.id,
                             "name": t.technique.name, "risk": t.risk}
                            for asset, t in self.ranked_gaps()],
            "warnings": self.warnings,
        }


def _likelihood(index: AtlasIndex, tid: str, asset: Asset) -> float:
    return round(max(1.0, index.likelihood(tid) * EXPOSURE_FACTOR[asset.exposure]), 2)


def build_threat_model(model: AssetModel, gateway: ControlSet | None, index: AtlasIndex,
                       rules: list[Rule] | None = None) -> ThreatModel:
    rules = rules if rules is not None else shipped_rules(index)
    gateway_controls: list[Control] = gateway.controls if gateway else []
    warnings = list(gateway.warnings) if gateway else []
    result = []
    for asset in model.assets:
        applicable: dict[str, tuple[list[tuple[str, str]], int]] = {}
        for rule in rules:
            if not rule.applies(asset):
                continue
            impact = IMPACT[rule.impact_for(asset)]
            for tid in rule.techniques:
                reasons, best = applicable.get(tid, ([], 0))
                reasons.append((rule.id, rule.reason))
                applicable[tid] = (reasons, max(best, impact))
        controls = [*(gateway_controls if asset.behind_gateway else []), *asset.controls]
        coverage = compute_coverage(controls, index)
        threats = []
        for tid, (reasons, impact) in applicable.items():
            entry = coverage.of(tid)
            threats.append(Threat(
                technique=index.technique(tid),
                reasons=reasons,
                impact=impact,
                likelihood=_likelihood(index, tid, asset),
                controls=entry.controls,
                strength=entry.strength,
                partial=entry.partial,
                mitigations=index.mitigations_for(tid),
            ))
        threats.sort(key=lambda t: (-t.risk, t.technique.id))
        result.append(AssetThreats(asset, threats))
    in_place = mitigations_in_place(gateway) if gateway else {}
    return ThreatModel(model.system, model.source, gateway.config_path if gateway else None,
                       index, result, warnings, in_place)
