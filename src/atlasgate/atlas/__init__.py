"""MITRE ATLAS inside AtlasGate: the fact index, coverage computed from the
configuration, Navigator layers, threat models, playbooks and compliance crosswalks."""

from atlasgate.atlas.controls import Control, ControlSet, Strength, controls_from_config
from atlasgate.atlas.coverage import Coverage, compute_coverage
from atlasgate.atlas.index import AtlasIndex, load_index

__all__ = [
    "AtlasIndex",
    "Control",
    "ControlSet",
    "Coverage",
    "Strength",
    "compute_coverage",
    "controls_from_config",
    "load_index",
]
