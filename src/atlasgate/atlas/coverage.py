"""Which ATLAS techniques the enabled controls cover, and how strongly.

A control tagged with a technique covers it directly. A control on a parent
technique also covers its sub-techniques (a prompt-injection rule catches direct
and indirect injection alike). A parent covered only through some of its
sub-techniques is *partial*: the gateway sees some variants, not all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from atlasgate.atlas.controls import Control, ControlSet, Strength
from atlasgate.atlas.index import AtlasIndex, Technique

Via = Literal["direct", "parent", "subtechnique"]


@dataclass(frozen=True, slots=True)
class CoveringControl:
    control: Control
    via: Via


@dataclass(slots=True)
class TechniqueCoverage:
    technique: Technique
    strength: Strength = Strength.NONE
    partial: bool = False
    controls: list[CoveringControl] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.strength > Strength.NONE and not self.partial

    def names(self) -> list[str]:
        return [c.control.name + ("" if c.via == "direct" else f" (via {c.via})")
                for c in self.controls]


@dataclass(slots=True)
class Coverage:
    index: AtlasIndex
    techniques: dict[str, TechniqueCoverage]
    disabled: list[Control]
    warnings: list[str]

    def of(self, technique_id: str) -> TechniqueCoverage:
        return self.techniques[technique_id]

    def covered(self, minimum: Strength = Strength.DETECT) -> list[TechniqueCoverage]:
        return [c for c in self.techniques.values() if c.covered and c.strength >= minimum]

    def counts(self) -> dict[str, int]:
        result = {s.label: 0 for s in Strength}
        result["partial"] = 0
        for c in self.techniques.values():
            if c.partial:
                result["partial"] += 1
            else:
                result[c.strength.label] += 1
        return result

    def detectable(self) -> list[str]:
        """Techniques at least one enabled control sees, directly or through a parent."""
        return sorted(c.technique.id for c in self.techniques.values() if c.covered)


def compute_coverage(controls: ControlSet | Iterable[Control], index: AtlasIndex) -> Coverage:
    items = controls.controls if isinstance(controls, ControlSet) else list(controls)
    warnings = list(controls.warnings) if isinstance(controls, ControlSet) else []
    table = {tid: TechniqueCoverage(t) for tid, t in index.techniques.items()}
    enabled = [c for c in items if c.enabled]
    for control in enabled:
        for tid in control.techniques:
            entry = table.get(tid)
            if entry is None:
                continue
            entry.controls.append(CoveringControl(control, "direct"))
            for sub in entry.technique.subtechniques:
                table[sub].controls.append(CoveringControl(control, "parent"))
            if entry.technique.parent:
                parent = table[entry.technique.parent]
                parent.controls.append(CoveringControl(control, "subtechnique"))
    for entry in table.values():
        full = [c.control.strength for c in entry.controls if c.via != "subtechnique"]
        if full:
            entry.strength = max(full)
        elif entry.controls:
            entry.strength = max(c.control.strength for c in entry.controls)
            entry.partial = True
        seen: set[str] = set()
        unique = []
        for c in sorted(entry.controls, key=lambda c: (c.via != "direct", -c.control.strength,
                                                       c.control.name)):
            if c.control.name not in seen:
                seen.add(c.control.name)
                unique.append(c)
        entry.controls = unique
    disabled = [c for c in items if not c.enabled]
    return Coverage(index, table, disabled, warnings)
