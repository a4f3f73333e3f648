"""Navigator layers have the structure of layer format 4.5 for the ATLAS domain."""

from __future__ import annotations

import copy

from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.coverage import compute_coverage
from atlasgate.atlas.index import load_index
from atlasgate.atlas.navigator import DOMAIN, coverage_layer, validate_layer

INDEX = load_index()


def _layer() -> dict:
    return coverage_layer(compute_coverage(controls_from_config(None, INDEX), INDEX))


def test_layer_has_the_required_fields_of_format_4_5() -> None:
    layer = _layer()
    assert layer["domain"] == DOMAIN == "atlas-atlas"
    assert layer["versions"]["layer"] == "4.5"
    major, minor, *_ = (int(x) for x in layer["versions"]["navigator"].split("."))
    assert (major, minor) >= (4, 9)
    assert isinstance(layer["name"], str)
    assert layer["name"]
    assert len(layer["gradient"]["colors"]) >= 2
    assert layer["gradient"]["maxValue"] > layer["gradient"]["minValue"]
    assert all({"label", "color"} <= set(item) for item in layer["legendItems"])
    assert {m["name"] for m in layer["metadata"]} >= {"atlas_data_version"}
    assert validate_layer(layer, INDEX) == []


def test_one_entry_per_technique_and_tactic() -> None:
    layer = _layer()
    pairs = [(e["techniqueID"], e["tactic"]) for e in layer["techniques"]]
    assert len(pairs) == len(set(pairs))
    expected = {(t.id, INDEX.tactics[ta].shortname)
                for t in INDEX.techniques.values() for ta in t.tactics}
    assert set(pairs) == expected
    shortnames = {t.shortname for t in INDEX.tactics.values()}
    assert "ai-model-access" in shortnames
    assert "ai-attack-staging" in shortnames


def test_every_entry_is_scored_coloured_and_commented() -> None:
    for entry in _layer()["techniques"]:
        assert isinstance(entry["score"], int | float)
        assert entry["color"].startswith("#")
        assert len(entry["color"]) == 7
        assert isinstance(entry["comment"], str)
        assert entry["comment"]


def test_validator_rejects_broken_layers() -> None:
    good = _layer()
    broken = copy.deepcopy(good)
    broken["domain"] = "enterprise-attack"
    broken["versions"] = {"layer": "3.0", "navigator": "4.0"}
    broken["techniques"][0]["techniqueID"] = "T1059"
    broken["techniques"][1]["tactic"] = "ml-model-access"
    broken["techniques"][2]["score"] = "high"
    broken["techniques"][3]["color"] = "red"
    broken["gradient"] = {"colors": ["#ffffff"], "minValue": 0, "maxValue": 1}
    problems = "\n".join(validate_layer(broken, INDEX))
    for expected in ("domain", "versions.layer", "versions.navigator", "techniques[0]",
                     "techniques[1].tactic", "techniques[2].score", "techniques[3].color",
                     "gradient"):
        assert expected in problems, expected
    assert validate_layer([], INDEX) == ["a layer is a JSON object"]
