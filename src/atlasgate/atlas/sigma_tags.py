"""Sigma ``tags`` to ATLAS IDs: ``atlas.t0024.002`` and ``mitre_atlas.<tactic-name>``.

Tactic tags are matched on the tactic's name with spaces as underscores and the
"AI"/"ML" prefix optional, so tags written before release 5 renamed "ML Model
Access" to "AI Model Access" still resolve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from atlasgate.atlas.index import AtlasIndex, normalize_id

_TECHNIQUE_TAG = re.compile(r"^(?:mitre_)?atlas\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
_TACTIC_ID_TAG = re.compile(r"^(?:mitre_)?atlas\.(ta\d{4})$", re.IGNORECASE)
_TACTIC_NAME_TAG = re.compile(r"^(?:mitre_atlas|atlas)\.([a-z_\-]+)$", re.IGNORECASE)

# Tag words that name no ATLAS tactic but are used in published rules.
_TACTIC_ALIASES = {"evasion": "AML.TA0007"}


def _tactic_key(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return re.sub(r"^(ai|ml)_", "", key)


def atlas_ids_from_tags(tags: Iterable[str], index: AtlasIndex) -> tuple[list[str], list[str]]:
    """(technique IDs, tactic IDs) named by a rule's tags; unknown tags are ignored."""
    by_name = {_tactic_key(t.name): t.id for t in index.tactics.values()}
    techniques: list[str] = []
    tactics: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            continue
        tag = tag.strip()
        if m := _TECHNIQUE_TAG.match(tag):
            tid = normalize_id(m.group(1))
            if index.known(tid) and tid not in techniques:
                techniques.append(tid)
        elif m := _TACTIC_ID_TAG.match(tag):
            tid = normalize_id(m.group(1))
            if tid in index.tactics and tid not in tactics:
                tactics.append(tid)
        elif m := _TACTIC_NAME_TAG.match(tag):
            key = _tactic_key(m.group(1))
            tactic_id = by_name.get(key) or _TACTIC_ALIASES.get(key)
            if tactic_id and tactic_id not in tactics:
                tactics.append(tactic_id)
    return techniques, tactics
