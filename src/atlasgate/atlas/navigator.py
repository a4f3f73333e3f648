"""ATLAS Navigator layers (domain ``atlas-atlas``, layer format 4.5).

The Navigator shows ATLAS with the ATT&CK Navigator code base, so a layer is an
ATT&CK layer whose technique IDs are ATLAS IDs and whose tactic field is the
tactic's name in lower case with hyphens (``ai-model-access``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlasgate import __version__
from atlasgate.atlas.controls import Strength
from atlasgate.atlas.coverage import Coverage
from atlasgate.atlas.index import AtlasIndex

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "4.9.1"
DOMAIN = "atlas-atlas"

STRENGTH_COLOURS = {
    Strength.NONE: "#ffffff",
    Strength.DETECT: "#ffe766",
    Strength.CONSTRAIN: "#a6d96a",
    Strength.BLOCK: "#1a9641",
}
PARTIAL_COLOUR = "#fdd49e"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class Mark:
    """What a layer says about one technique."""

    score: float
    color: str
    comment: str


def build_layer(index: AtlasIndex, marks: Mapping[str, Mark], *, name: str, description: str,
                gradient: tuple[str, ...], max_score: float,
                legend: list[tuple[str, str]],
                metadata: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One entry per technique and tactic, every technique listed (unmarked ones disabled)."""
    entries = []
    for tactic in index.ordered_tactics():
        for technique in index.techniques_in(tactic.id, subtechniques=True):
            mark = marks.get(technique.id)
            entry: dict[str, Any] = {"techniqueID": technique.id, "tactic": tactic.shortname}
            if mark is not None:
                entry.update(score=mark.score, color=mark.color, comment=mark.comment,
                             enabled=True)
            else:
                entry["enabled"] = False
            if technique.subtechniques and any(s in marks for s in technique.subtechniques):
                entry["showSubtechniques"] = True
            entries.append(entry)
    return {
        "name": name,
        "versions": {"layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION},
        "domain": DOMAIN,
        "description": description,
        "sorting": 0,
        "layout": {"layout": "side", "showID": True, "showName": True,
                   "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": list(gradient), "minValue": 0, "maxValue": max_score},
        "legendItems": [{"label": label, "color": color} for label, color in legend],
        "metadata": [{"name": "atlas_data_version", "value": index.version},
                     {"name": "generator", "value": f"AtlasGate {__version__}"},
                     *({"name": k, "value": v} for k, v in metadata)],
    }


def coverage_layer(coverage: Coverage, *, name: str = "AtlasGate coverage",
                   config: str | None = None) -> dict[str, Any]:
    marks = {}
    for tid, entry in coverage.techniques.items():
        if not entry.controls:
            marks[tid] = Mark(0, STRENGTH_COLOURS[Strength.NONE], "not covered by this gateway")
            continue
        score = float(entry.strength) - (0.5 if entry.partial else 0.0)
        colour = PARTIAL_COLOUR if entry.partial else STRENGTH_COLOURS[entry.strength]
        label = f"partial ({entry.strength.label} on some sub-techniques)" if entry.partial \
            else entry.strength.label
        marks[tid] = Mark(score, colour, f"{label}: " + "; ".join(entry.names()))
    legend = [(s.label if s else "not covered", STRENGTH_COLOURS[s]) for s in Strength]
    legend.append(("partial", PARTIAL_COLOUR))
    description = "Techniques covered by the enabled detectors, policy rules and Sigma rules"
    if config:
        description += f" of {config}"
    return build_layer(coverage.index, marks, name=name, description=description,
                       gradient=tuple(STRENGTH_COLOURS[s] for s in Strength), max_score=3,
                       legend=legend, metadata=(("config", config or "defaults"),))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def validate_layer(layer: Any, index: AtlasIndex | None = None) -> list[str]:
    """Problems that would stop the Navigator from loading ``layer`` (empty when none)."""
    problems: list[str] = []
    if not isinstance(layer, Mapping):
        return ["a layer is a JSON object"]
    for key in ("name", "domain"):
        if not isinstance(layer.get(key), str) or not layer.get(key):
            problems.append(f"'{key}' is required and must be a string")
    if layer.get("domain") != DOMAIN:
        problems.append(f"domain must be {DOMAIN!r} for ATLAS")
    versions = layer.get("versions")
    if not isinstance(versions, Mapping):
        problems.append("'versions' must be an object with 'layer' and 'navigator'")
    else:
        if str(versions.get("layer", "")).split(".")[0] != "4":
            problems.append("versions.layer must be a 4.x layer format")
        if _version_tuple(str(versions.get("navigator", "0"))) < (4, 9, 0):
            problems.append("versions.navigator must be at least 4.9.0 for layer format 4.5")
    shortnames = {t.shortname for t in index.tactics.values()} if index else None
    techniques = layer.get("techniques", [])
    if not isinstance(techniques, list):
        problems.append("'techniques' must be a list")
        techniques = []
    for i, entry in enumerate(techniques):
        where = f"techniques[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        tid = entry.get("techniqueID")
        if not isinstance(tid, str) or not re.match(r"^AML\.T\d{4}(\.\d{3})?$", tid):
            problems.append(f"{where}.techniqueID must be an ATLAS technique ID")
        elif index is not None and not index.known(tid):
            problems.append(f"{where}.techniqueID {tid} is not in ATLAS {index.version}")
        if "tactic" in entry and shortnames is not None and entry["tactic"] not in shortnames:
            problems.append(f"{where}.tactic {entry['tactic']!r} is not an ATLAS tactic")
        if "score" in entry and not isinstance(entry["score"], int | float):
            problems.append(f"{where}.score must be a number")
        if "color" in entry and entry["color"] and not _HEX.match(str(entry["color"])):
            problems.append(f"{where}.color must be #rrggbb")
        for key in ("enabled", "showSubtechniques"):
            if key in entry and not isinstance(entry[key], bool):
                problems.append(f"{where}.{key} must be true or false")
        if "comment" in entry and not isinstance(entry["comment"], str):
            problems.append(f"{where}.comment must be a string")
    gradient = layer.get("gradient")
    if gradient is not None:
        if not isinstance(gradient, Mapping) or len(gradient.get("colors", [])) < 2:
            problems.append("gradient.colors needs at least two colours")
        elif not gradient.get("maxValue", 0) > gradient.get("minValue", 0):
            problems.append("gradient.maxValue must be greater than minValue")
    for i, item in enumerate(layer.get("legendItems", []) or []):
        if not isinstance(item, Mapping) or not {"label", "color"} <= set(item):
            problems.append(f"legendItems[{i}] needs a label and a color")
    return problems


def threatmodel_layer(model: Any) -> dict[str, Any]:
    """Applicable techniques scored by their highest residual risk, coloured by coverage."""
    from atlasgate.atlas.report_html import STATUS_COLOURS, STATUS_TEXT

    status = model.technique_status()
    notes: dict[str, list[str]] = {}
    residual: dict[str, float] = {}
    for a in model.assets:
        for t in a.threats:
            tid = t.technique.id
            names = ", ".join(c.control.name for c in t.controls) or "no control"
            notes.setdefault(tid, []).append(f"{a.asset.id}: {t.status} ({names})")
            residual[tid] = max(residual.get(tid, 0.0), t.residual)
    marks = {tid: Mark(residual[tid], STATUS_COLOURS[st], "; ".join(notes[tid]))
             for tid, st in status.items()}
    legend = [(STATUS_TEXT[s], c) for s, c in STATUS_COLOURS.items() if s != "n/a"]
    return build_layer(model.index, marks, name=f"Threat model: {model.system}",
                       description="ATLAS techniques that apply to the assets; score is the "
                                   "highest residual risk (impact x likelihood after controls)",
                       gradient=("#ffffff", "#e45756"), max_score=25, legend=legend,
                       metadata=(("assets", model.source),))
