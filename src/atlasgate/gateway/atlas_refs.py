"""ATLAS tactics and playbook references for a decision's techniques.

Few distinct technique sets occur in practice, so the answers are cached and the
hot path pays for a dictionary lookup.
"""

from __future__ import annotations

from functools import cache, lru_cache

from atlasgate.atlas.index import AtlasIndex, load_index
from atlasgate.atlas.playbooks import playbook_refs


@cache
def _index() -> AtlasIndex:
    return load_index()


@lru_cache(maxsize=4096)
def references(techniques: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(tactic IDs in matrix order, playbook IDs) for the technique IDs."""
    index = _index()
    return index.tactics_of(techniques), playbook_refs(techniques, index)
