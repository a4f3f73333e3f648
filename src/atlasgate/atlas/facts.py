"""Reduce the ATLAS data file to the facts AtlasGate ships: IDs, names, links, counts.

The project ships no ATLAS prose. Only identifiers, names, tactic membership,
maturity, mitigation links and case-study counts leave this module; descriptions
stay in the user's copy of the file. Matching is always by ID, because release 5
renamed "ML" to "AI" in many names.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

FORMAT = 1
ATTRIBUTION = (
    "Identifiers and names from MITRE ATLAS (https://atlas.mitre.org), "
    "Copyright MITRE, licensed under the Apache License 2.0."
)


def _matrix_lists(raw: Mapping[str, Any]) -> tuple[list[Any], list[Any], list[Any]]:
    tactics: list[Any] = []
    techniques: list[Any] = []
    mitigations: list[Any] = []
    matrices = raw.get("matrices")
    sources = matrices if isinstance(matrices, list) and matrices else [raw]
    for matrix in sources:
        if not isinstance(matrix, Mapping):
            continue
        tactics += list(matrix.get("tactics") or [])
        techniques += list(matrix.get("techniques") or [])
        mitigations += list(matrix.get("mitigations") or [])
    return tactics, techniques, mitigations


def _linked_ids(entries: Any) -> list[str]:
    """Technique IDs from a mitigation's ``techniques`` list (dicts or bare IDs)."""
    found: list[str] = []
    for entry in entries or []:
        tid = entry.get("id") if isinstance(entry, Mapping) else entry
        if isinstance(tid, str) and tid.startswith("AML.T") and tid not in found:
            found.append(tid)
    return found


def extract_facts(raw: Mapping[str, Any], source_bytes: bytes | None = None) -> dict[str, Any]:
    """The shipped index, as plain JSON-ready data, from a parsed ATLAS.yaml."""
    if not isinstance(raw, Mapping):
        raise ValueError("the ATLAS data file does not hold a mapping at its top level")
    tactic_entries, technique_entries, mitigation_entries = _matrix_lists(raw)
    if not tactic_entries or not technique_entries:
        raise ValueError("the ATLAS data file has no tactics or no techniques")

    tactics = [
        {"id": str(t["id"]), "name": str(t.get("name", t["id"]))}
        for t in tactic_entries
        if isinstance(t, Mapping) and "id" in t
    ]

    by_id: dict[str, Mapping[str, Any]] = {}
    for t in technique_entries:
        if isinstance(t, Mapping) and isinstance(t.get("id"), str):
            by_id[t["id"]] = t

    case_counts: dict[str, set[str]] = defaultdict(set)
    case_studies = [c for c in raw.get("case-studies") or [] if isinstance(c, Mapping)]
    for study in case_studies:
        for step in study.get("procedure") or []:
            if isinstance(step, Mapping) and isinstance(step.get("technique"), str):
                case_counts[step["technique"]].add(str(study.get("id")))

    techniques = []
    for tid, t in by_id.items():
        parent = t.get("subtechnique-of")
        parent = str(parent) if parent else None
        own = [str(x) for x in t.get("tactics") or []]
        if parent and not own:
            own = [str(x) for x in (by_id.get(parent) or {}).get("tactics") or []]
        techniques.append({
            "id": tid,
            "name": str(t.get("name", tid)),
            "parent": parent,
            "tactics": own,
            "maturity": str(t["maturity"]) if t.get("maturity") else None,
            "case_studies": len(case_counts.get(tid, ())),
        })

    mitigations = []
    for m in mitigation_entries:
        if not isinstance(m, Mapping) or "id" not in m:
            continue
        linked = _linked_ids(m.get("techniques"))
        # Known quirk: some releases put a technique entry inside ``ml-lifecycle``.
        for extra in _linked_ids(x for x in m.get("ml-lifecycle") or [] if isinstance(x, Mapping)):
            if extra not in linked:
                linked.append(extra)
        category = m.get("category") or []
        mitigations.append({
            "id": str(m["id"]),
            "name": str(m.get("name", m["id"])),
            "category": [str(c) for c in (category if isinstance(category, list) else [category])],
            "techniques": linked,
        })

    return {
        "format": FORMAT,
        "atlas_version": str(raw.get("version", "")),
        "source_sha256": hashlib.sha256(source_bytes).hexdigest() if source_bytes else "",
        "attribution": ATTRIBUTION,
        "tactics": tactics,
        "techniques": techniques,
        "mitigations": mitigations,
        "case_study_count": len(case_studies),
    }
