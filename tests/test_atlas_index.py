"""The shipped ATLAS index agrees with the real ATLAS data file, fact by fact."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from atlasgate.atlas.data import load_atlas_data, read_atlas_file
from atlasgate.atlas.facts import extract_facts
from atlasgate.atlas.index import AtlasIndex, load_index
from atlasgate.cli.main import cli
from atlasgate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def real_atlas_path() -> Path:
    """The ATLAS.yaml beside the clone (``../shared/atlas``); required under CI."""
    candidates = [ROOT.parent / "shared" / "atlas" / "ATLAS.yaml"]
    if os.environ.get("ATLASGATE_ATLAS_DATA"):
        candidates.insert(0, Path(os.environ["ATLASGATE_ATLAS_DATA"]))
    for path in candidates:
        if path.is_file():
            return path
    message = f"the ATLAS data file is not at {candidates[-1]} (set ATLASGATE_ATLAS_DATA)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def raw() -> dict:
    with real_atlas_path().open("rb") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def index() -> AtlasIndex:
    return load_index()


def _matrix(raw: dict) -> dict:
    return raw["matrices"][0]


def test_counts_match_the_data_file(raw: dict, index: AtlasIndex) -> None:
    matrix = _matrix(raw)
    assert len(index.tactics) == len(matrix["tactics"])
    assert len(index.techniques) == len(matrix["techniques"])
    assert len(index.mitigations) == len(matrix["mitigations"])
    assert index.case_study_total == len(raw["case-studies"])
    subs = [t for t in matrix["techniques"] if "subtechnique-of" in t]
    assert sum(t.is_subtechnique for t in index.techniques.values()) == len(subs)
    assert index.version == str(raw["version"])


def test_tactics_keep_matrix_order_and_are_matched_by_id(raw: dict, index: AtlasIndex) -> None:
    assert [t.id for t in index.ordered_tactics()] == [t["id"] for t in _matrix(raw)["tactics"]]
    # Release 5 renamed "ML Model Access" to "AI Model Access"; the ID did not change.
    assert index.tactic("AML.TA0000").name == next(
        t["name"] for t in _matrix(raw)["tactics"] if t["id"] == "AML.TA0000")


def test_subtechniques_have_their_parent_and_inherit_its_tactics(raw: dict,
                                                                 index: AtlasIndex) -> None:
    by_id = {t["id"]: t for t in _matrix(raw)["techniques"]}
    for tid, entry in by_id.items():
        technique = index.technique(tid)
        if "subtechnique-of" in entry:
            parent = entry["subtechnique-of"]
            assert technique.parent == parent
            assert tid in index.technique(parent).subtechniques
            assert technique.tactics == tuple(by_id[parent]["tactics"]), tid
            assert "tactics" not in entry  # the file gives sub-techniques no tactics of their own
        else:
            assert technique.parent is None
            assert technique.tactics == tuple(entry["tactics"])
        assert technique.maturity == entry.get("maturity")


def test_every_technique_is_in_the_matrix_of_its_tactics(index: AtlasIndex) -> None:
    listed = Counter()
    for tactic in index.ordered_tactics():
        for t in index.techniques_in(tactic.id, subtechniques=True):
            listed[t.id] += 1
    for tid, technique in index.techniques.items():
        assert listed[tid] == len(technique.tactics), tid


def test_mitigation_links_include_entries_misplaced_in_ml_lifecycle(raw: dict,
                                                                    index: AtlasIndex) -> None:
    misplaced = {
        (m["id"], x["id"])
        for m in _matrix(raw)["mitigations"]
        for x in m["ml-lifecycle"] if isinstance(x, dict)
    }
    assert misplaced, "the data file no longer has the quirk this test is about"
    for mid, tid in misplaced:
        assert tid in index.mitigation(mid).techniques
        assert mid in [m.id for m in index.mitigations_for(tid)]
    for m in _matrix(raw)["mitigations"]:
        for link in m["techniques"]:
            assert link["id"] in index.mitigation(m["id"]).techniques


def test_case_study_counts_are_distinct_studies_per_technique(raw: dict,
                                                              index: AtlasIndex) -> None:
    studies: dict[str, set[str]] = {}
    for cs in raw["case-studies"]:
        for step in cs["procedure"]:
            studies.setdefault(step["technique"], set()).add(cs["id"])
    for tid, technique in index.techniques.items():
        assert technique.case_studies == len(studies.get(tid, ())), tid
    parent = index.technique("AML.T0051")
    assert index.case_studies_for("AML.T0051") == parent.case_studies + sum(
        index.technique(s).case_studies for s in parent.subtechniques)


def test_shipped_index_is_what_the_build_script_makes_from_the_file() -> None:
    spec = importlib.util.spec_from_file_location("build_atlas_index",
                                                  ROOT / "scripts" / "build_atlas_index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(real_atlas_path())
    shipped = (ROOT / "src" / "atlasgate" / "atlas" / "index.json.gz").read_bytes()
    # Compare the content: compressed bytes may differ between zlib versions.
    assert gzip.decompress(built) == gzip.decompress(shipped), \
        "rebuild with: python scripts/build_atlas_index.py"
    facts = json.loads(gzip.decompress(shipped))
    assert "description" not in json.dumps(facts)  # facts only, no ATLAS prose


def test_tactics_of_techniques_come_in_matrix_order(index: AtlasIndex) -> None:
    tactics = index.tactics_of(["AML.T0024.002", "AML.T0051.000", "AML.T0054", "bogus"])
    assert set(tactics) == {"AML.TA0010", "AML.TA0005", "AML.TA0012", "AML.TA0007"}
    order = [t.id for t in index.ordered_tactics()]
    assert tactics == sorted(tactics, key=order.index)


def test_likelihood_rises_with_maturity_and_case_studies(index: AtlasIndex) -> None:
    realized_many = index.likelihood("AML.T0051.000")   # realized, many case studies
    feasible_none = index.likelihood("AML.T0024.000")   # feasible, none
    assert index.maturity_of("AML.T0051.000") == "realized"
    assert index.maturity_of("AML.T0024.000") == "feasible"
    assert realized_many > feasible_none >= 1.0
    assert realized_many <= 5.0


def test_search_matches_word_stems_in_names(index: AtlasIndex) -> None:
    ids = [item.id for item in index.search("extraction")]
    assert "AML.T0024.002" in ids
    assert "AML.T0056" in ids
    assert [i.id for i in index.search("AML.T0024.002")] == ["AML.T0024.002"]
    assert index.search("no-such-thing-anywhere") == []


def test_full_data_gives_descriptions_and_case_studies(raw: dict) -> None:
    data = load_atlas_data(real_atlas_path())
    entry = next(t for t in _matrix(raw)["techniques"] if t["id"] == "AML.T0051")
    assert data.description("AML.T0051") == entry["description"].strip()
    used = data.case_studies_using("AML.T0051")
    assert used
    assert all(any(t.startswith("AML.T0051") for t in cs.techniques) for cs in used)
    assert all(len(cs.date) == 10 for cs in data.case_studies)  # dates read as dates, shown ISO


def test_facts_tolerate_bare_ids_and_missing_optional_fields() -> None:
    raw = {"version": "x", "matrices": [{
        "tactics": [{"id": "AML.TA0001", "name": "Staging"}],
        "techniques": [
            {"id": "AML.T0001", "name": "Top", "tactics": ["AML.TA0001"]},
            {"id": "AML.T0001.000", "name": "Sub", "subtechnique-of": "AML.T0001"},
        ],
        "mitigations": [{"id": "AML.M0001", "name": "M", "techniques": ["AML.T0001"],
                         "ml-lifecycle": ["Deployment", {"id": "AML.T0001.000", "use": "u"}]}],
    }]}
    index = AtlasIndex(extract_facts(raw))
    assert index.technique("AML.T0001.000").tactics == ("AML.TA0001",)
    assert index.mitigation("AML.M0001").techniques == ("AML.T0001", "AML.T0001.000")


def test_a_broken_data_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "ATLAS.yaml"
    bad.write_text("id: ATLAS\nmatrices:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        read_atlas_file(bad)
    assert str(err.value).startswith(f"{bad}:")
    assert err.value.line is not None
    other = tmp_path / "other.yaml"
    other.write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match="not an ATLAS data file"):
        read_atlas_file(other)
    result = CliRunner().invoke(cli, ["atlas", "show", "AML.T0051", "--atlas-data", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output
    assert "Traceback" not in result.output


def test_atlas_commands(index: AtlasIndex) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["atlas", "show", "aml.t0024.002"])
    assert shown.exit_code == 0, shown.output
    assert "Extract AI Model" in shown.output
    assert "AML.TA0010" in shown.output
    assert "AML.M0002" in shown.output
    full = runner.invoke(cli, ["atlas", "show", "AML.T0024.002", "--atlas-data",
                               str(real_atlas_path())])
    assert "case studies:" in full.output
    assert "AML.CS" in full.output
    found = runner.invoke(cli, ["atlas", "search", "extraction"])
    assert found.exit_code == 0
    assert "AML.T0024.002" in found.output
    matrix = runner.invoke(cli, ["atlas", "matrix"])
    positions = [matrix.output.index(f"({t.id})") for t in index.ordered_tactics()]
    assert positions == sorted(positions)
    study = runner.invoke(cli, ["atlas", "show", "AML.CS0010", "--atlas-data",
                                str(real_atlas_path())])
    assert study.exit_code == 0, study.output
    assert "AML.T0012" in study.output
    no_data = runner.invoke(cli, ["atlas", "show", "AML.CS0010"])
    assert no_data.exit_code == 2
    assert "--atlas-data" in no_data.output
    missing = runner.invoke(cli, ["atlas", "show", "AML.T9999"])
    assert missing.exit_code == 2
    assert "not an ATLAS technique" in missing.output
