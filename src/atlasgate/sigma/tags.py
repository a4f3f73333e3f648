"""Map Sigma ``tags`` to ATLAS technique and tactic IDs.

Standard form: ``atlas.t0024.002`` (technique), ``atlas.ta0010`` or
``atlas.exfiltration`` (tactic). The legacy ``mitre_atlas.<name>`` form seen in
published rules is mapped to the nearest tactic and technique, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ATLAS tactics by their Sigma-style short name (name lower-cased, spaces as "_").
TACTICS: dict[str, str] = {
    "reconnaissance": "AML.TA0002",
    "resource_development": "AML.TA0003",
    "initial_access": "AML.TA0004",
    "ai_model_access": "AML.TA0000",
    "execution": "AML.TA0005",
    "persistence": "AML.TA0006",
    "privilege_escalation": "AML.TA0012",
    "defense_evasion": "AML.TA0007",
    "credential_access": "AML.TA0013",
    "discovery": "AML.TA0008",
    "lateral_movement": "AML.TA0015",
    "collection": "AML.TA0009",
    "ai_attack_staging": "AML.TA0001",
    "command_and_control": "AML.TA0014",
    "exfiltration": "AML.TA0010",
    "impact": "AML.TA0011",
}

# Older names of the same tactics ("ML" before ATLAS renamed them to "AI").
_TACTIC_ALIASES: dict[str, str] = {
    "ml_model_access": "ai_model_access",
    "model_access": "ai_model_access",
    "ml_attack_staging": "ai_attack_staging",
    "attack_staging": "ai_attack_staging",
    "evasion": "defense_evasion",
}

# The technique that best stands for a legacy tag when it names a tactic or an attack.
_NEAREST_TECHNIQUE: dict[str, tuple[str, ...]] = {
    "ai_model_access": ("AML.T0040",),
    "defense_evasion": ("AML.T0015",),
    "exfiltration": ("AML.T0024",),
    "impact": ("AML.T0029",),
    "ai_attack_staging": ("AML.T0043",),
    "discovery": ("AML.T0013",),
    "execution": ("AML.T0051",),
    "privilege_escalation": ("AML.T0054",),
    "persistence": ("AML.T0020",),
    "credential_access": ("AML.T0055",),
    "collection": ("AML.T0035",),
    "initial_access": ("AML.T0049",),
}

# Attack names used as legacy tags: (tactic short name, technique).
_ATTACK_NAMES: dict[str, tuple[str, str]] = {
    "model_extraction": ("exfiltration", "AML.T0024.002"),
    "model_stealing": ("exfiltration", "AML.T0024.002"),
    "model_theft": ("exfiltration", "AML.T0024.002"),
    "membership_inference": ("exfiltration", "AML.T0024.000"),
    "model_inversion": ("exfiltration", "AML.T0024.001"),
    "prompt_injection": ("execution", "AML.T0051"),
    "jailbreak": ("privilege_escalation", "AML.T0054"),
    "data_poisoning": ("persistence", "AML.T0020"),
    "poisoning": ("persistence", "AML.T0020"),
    "adversarial_examples": ("ai_attack_staging", "AML.T0043"),
    "denial_of_service": ("impact", "AML.T0029"),
    "cost_harvesting": ("impact", "AML.T0034"),
    "system_prompt_extraction": ("exfiltration", "AML.T0056"),
    "data_leakage": ("exfiltration", "AML.T0057"),
}

_TECHNIQUE = re.compile(r"t(\d{4})(?:\.(\d{3}))?")
_TACTIC_ID = re.compile(r"ta(\d{4})")


@dataclass
class TagMapping:
    techniques: list[str] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    # (tag, message) for each tag taken with liberty, and its standard replacement tags.
    notes: list[tuple[str, str]] = field(default_factory=list)
    standard_tags: list[str] = field(default_factory=list)

    def _add(self, bucket: list[str], value: str) -> None:
        if value not in bucket:
            bucket.append(value)


def _tactic_tag(tactic_id: str) -> str:
    return "atlas." + tactic_id.removeprefix("AML.").lower()


def technique_tag(technique_id: str) -> str:
    return "atlas." + technique_id.removeprefix("AML.").lower()


def map_tags(tags: list[str]) -> TagMapping:
    """Technique and tactic IDs for a rule's tags; other namespaces pass through."""
    out = TagMapping()
    for raw in tags:
        tag = str(raw).strip()
        namespace, _, name = tag.partition(".")
        namespace = namespace.lower()
        name = name.lower()
        if namespace == "atlas":
            if m := _TECHNIQUE.fullmatch(name):
                out._add(out.techniques, f"AML.T{m[1]}" + (f".{m[2]}" if m[2] else ""))
            elif m := _TACTIC_ID.fullmatch(name):
                out._add(out.tactics, f"AML.TA{m[1]}")
            elif name in TACTICS:
                out._add(out.tactics, TACTICS[name])
            else:
                out.notes.append((tag, f"tag '{tag}' names no ATLAS technique or tactic"))
            out.standard_tags.append(tag)
        elif namespace in ("mitre_atlas", "mitre-atlas", "atlas_mitre"):
            _map_legacy(tag, name.replace("-", "_"), out)
        else:
            out.standard_tags.append(tag)
    return out


def _map_legacy(tag: str, name: str, out: TagMapping) -> None:
    if m := _TECHNIQUE.fullmatch(name) or _TECHNIQUE.fullmatch(name.removeprefix("aml.")):
        technique = f"AML.T{m[1]}" + (f".{m[2]}" if m[2] else "")
        out._add(out.techniques, technique)
        standard = [technique_tag(technique)]
    else:
        tactic_name = _TACTIC_ALIASES.get(name, name)
        if tactic_name in TACTICS:
            tactic = TACTICS[tactic_name]
            techniques = _NEAREST_TECHNIQUE.get(tactic_name, ())
        elif name in _ATTACK_NAMES:
            tactic_name, technique = _ATTACK_NAMES[name]
            tactic = TACTICS[tactic_name]
            techniques = (technique,)
        else:
            out.notes.append((tag, f"legacy tag '{tag}' matches no ATLAS tactic or technique"))
            out.standard_tags.append(tag)
            return
        out._add(out.tactics, tactic)
        for technique in techniques:
            out._add(out.techniques, technique)
        standard = [_tactic_tag(tactic), *(technique_tag(t) for t in techniques)]
    for s in standard:
        if s not in out.standard_tags:
            out.standard_tags.append(s)
    out.notes.append((tag, f"legacy tag '{tag}' mapped to {', '.join(standard)}"))
