"""Compliance crosswalks: which requirements of a framework the gateway gives evidence for.

Each framework is a data file in ``crosswalks/`` listing requirements with the
reasoning for the mapping and the checks that count as evidence. Checks read the
gateway configuration (through the same controls as coverage) and, when given,
the threat model's assets file. Requirements that only an organisation can meet
(a policy document, a role) carry no checks and are reported as organisational.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from atlasgate.atlas.controls import ControlSet, Strength
from atlasgate.atlas.coverage import Coverage, compute_coverage
from atlasgate.atlas.index import AtlasIndex
from atlasgate.atlas.playbooks import playbook_refs
from atlasgate.errors import AtlasGateError

CHECK_KINDS = ("decision_log", "coverage", "coverage_report", "rule_action", "sigma_rules",
               "playbooks", "threat_model", "keys", "upstreams")


class UnknownFrameworkError(AtlasGateError):
    """The framework name matches none of the shipped crosswalks."""


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: str
    reasoning: str
    checks: tuple[Mapping[str, Any], ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Framework:
    key: str
    name: str
    source: str
    requirements: tuple[Requirement, ...]


@dataclass(slots=True)
class CheckResult:
    label: str
    met: bool
    evidence: str


@dataclass(slots=True)
class RequirementResult:
    requirement: Requirement
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.checks:
            return "organisational"
        met = sum(c.met for c in self.checks)
        if met == len(self.checks):
            return "evidence"
        return "partial" if met else "no evidence"


@functools.cache
def _files() -> dict[str, str]:
    folder = resources.files("atlasgate.atlas").joinpath("crosswalks")
    return {entry.name.rsplit(".", 1)[0]: entry.read_text("utf-8")
            for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml"))}


def framework_names() -> list[str]:
    return sorted(_files())


def parse_framework(key: str, data: Mapping[str, Any]) -> Framework:
    meta = data["framework"]
    requirements = []
    for item in data["requirements"]:
        checks = tuple(item.get("checks") or ())
        for check in checks:
            if check.get("kind") not in CHECK_KINDS:
                raise ValueError(f"{key} {item['id']}: unknown check kind {check.get('kind')!r}")
        requirements.append(Requirement(
            id=str(item["id"]), title=" ".join(str(item["title"]).split()),
            reasoning=" ".join(str(item["reasoning"]).split()), checks=checks,
            note=" ".join(str(item.get("note", "")).split())))
    return Framework(key, str(meta["name"]), " ".join(str(meta["source"]).split()),
                     tuple(requirements))


def load_framework(name: str) -> Framework:
    files = _files()
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {"nist": "nist-ai-rmf", "ai-rmf": "nist-ai-rmf", "iso": "iso-42001",
               "iso42001": "iso-42001", "iso-iec-42001": "iso-42001", "owasp": "owasp-llm-2025",
               "owasp-llm": "owasp-llm-2025", "eu": "eu-ai-act", "ai-act": "eu-ai-act"}
    key = aliases.get(key, key)
    if key not in files:
        raise UnknownFrameworkError(
            f"unknown framework {name!r}; choose one of: {', '.join(framework_names())}")
    return parse_framework(key, yaml.safe_load(files[key]))


@dataclass(slots=True)
class Evidence:
    """Everything the checks look at, computed once per report."""

    controls: ControlSet
    coverage: Coverage
    index: AtlasIndex
    assets: str | None = None


def _check(check: Mapping[str, Any], ev: Evidence) -> CheckResult:
    kind = check["kind"]
    label = str(check.get("label") or kind.replace("_", " "))
    config = ev.controls.config
    cfg = ev.controls.config_path or "the shipped defaults"
    if kind == "decision_log":
        audit = config.get("audit")
        path = audit.get("path") if isinstance(audit, Mapping) else None
        path = str(path or "atlasgate-data/decisions.db")
        where = Path(path).expanduser()
        if not where.is_absolute() and ev.controls.config_path:
            where = Path(ev.controls.config_path).resolve().parent / where
        state = (f"present, {where.stat().st_size} bytes" if where.is_file()
                 else "created on the first decision")
        verify = "atlasgate audit " + (f"--config {cfg} " if ev.controls.config_path else "") \
            + "verify"
        return CheckResult(label, True, f"every decision is written to the hash-chained, signed "
                                        f"decision log {where} ({state}); `{verify}` checks it "
                                        "end to end")
    if kind == "coverage_report":
        counts = ev.coverage.counts()
        covered = len(ev.index.techniques) - counts["none"] - counts["partial"]
        return CheckResult(label, covered > 0,
                           f"`atlasgate coverage` computes {covered} covered ATLAS techniques "
                           f"from {cfg} and writes a Navigator layer")
    if kind == "coverage":
        minimum = Strength.parse(check.get("min", "detect"))
        hits = []
        for tid in check["techniques"]:
            entry = ev.coverage.of(tid)
            if entry.covered and entry.strength >= minimum:
                hits.append(f"{tid} ({entry.strength.label})")
        wanted = ", ".join(check["techniques"])
        if hits:
            return CheckResult(label, True, "covered: " + ", ".join(hits))
        return CheckResult(label, False, f"none of {wanted} is covered at "
                                         f"{minimum.label} strength or more")
    if kind == "rule_action":
        action = str(check["action"]).upper()
        rules = [c.name for c in ev.controls.enabled if c.action == action]
        return CheckResult(label, bool(rules),
                           f"{len(rules)} enabled rules act with {action}"
                           + (f" (e.g. {', '.join(rules[:3])})" if rules else ""))
    if kind == "sigma_rules":
        sigma = [c for c in ev.controls.enabled if c.kind == "sigma"]
        return CheckResult(label, bool(sigma), f"{len(sigma)} Sigma rules run on the gateway's "
                                               "events and alert with ATLAS IDs")
    if kind == "playbooks":
        detected = ev.coverage.detectable()
        missing = [t for t in detected if not playbook_refs([t], ev.index)]
        ok = bool(detected) and not missing
        text = (f"playbooks cover all {len(detected)} detected techniques"
                if ok else f"detected techniques without a playbook: {', '.join(missing) or '-'}")
        return CheckResult(label, ok, text)
    if kind == "threat_model":
        return CheckResult(label, ev.assets is not None,
                           f"threat model of {ev.assets} (`atlasgate threatmodel`)"
                           if ev.assets else "no assets file given (--assets assets.yaml)")
    if kind == "keys":
        keys = config.get("keys") or []
        return CheckResult(label, bool(keys), f"{len(keys)} API keys, each tied to a tenant "
                                              "and user that every decision records")
    if kind == "upstreams":
        ups = config.get("upstreams")
        count = sum(len(v) for v in ups.values() if isinstance(v, list)) \
            if isinstance(ups, Mapping) else 0
        return CheckResult(label, count > 0, f"{count} upstream models listed in {cfg}")
    raise ValueError(f"unknown check kind {kind!r}")


def assess(framework: Framework, controls: ControlSet, index: AtlasIndex,
           assets: str | None = None) -> list[RequirementResult]:
    evidence = Evidence(controls, compute_coverage(controls, index), index, assets)
    return [RequirementResult(r, [_check(c, evidence) for c in r.checks])
            for r in framework.requirements]
