"""Coverage follows what a gateway.yaml enables: two configurations, two different answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlasgate.atlas.controls import Strength, controls_from_config, default_pack_files
from atlasgate.atlas.coverage import compute_coverage
from atlasgate.atlas.index import load_index
from atlasgate.atlas.navigator import coverage_layer, validate_layer
from atlasgate.cli.main import cli

INDEX = load_index()

SIGMA_RULE = """\
title: Systematic predict queries
id: 8c6d6a2e-4a51-4a3b-9a0e-1f7d7b1e2c11
status: experimental
logsource: {category: api_activity, product: atlasgate}
detection:
  sel: {api.method: predict}
  condition: sel
level: medium
tags: [atlas.t0024.001]
atlasgate: {action: BLOCK}
"""


def _registry() -> dict:
    registry = pytest.importorskip("atlasgate.detectors.registry")
    return dict(registry.DETECTORS)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    """A: every detector, no default packs, one Sigma rule that blocks, rules from a file.
    B: the injection detector off, inline rules only, a disabled rule."""
    _write(tmp_path / "a" / "sigma" / "probe.yml", SIGMA_RULE)
    _write(tmp_path / "a" / "extra.yaml", """\
rules:
  - {id: review-bulk, condition: 'ml.instance_count > 500', action: REVIEW,
     atlas: [AML.T0024.002]}
""")
    a = _write(tmp_path / "a" / "gateway.yaml", """\
policy:
  include_defaults: false
  files: [extra.yaml]
sigma: {rules: [sigma/]}
""")
    b = _write(tmp_path / "b" / "gateway.yaml", """\
detectors:
  injection: {enabled: false}
policy:
  include_defaults: false
  rules:
    - {id: block-jailbreak, condition: 'detection.jailbreak.count > 0', action: BLOCK,
       atlas: [AML.T0054]}
    - {id: log-extraction, condition: 'api.request_count > 50', action: LOG,
       atlas: [AML.T0024.002]}
    - {id: switched-off, condition: 'true', action: BLOCK, atlas: [AML.T0029], enabled: false}
""")
    return a, b


def test_two_configurations_cover_differently(configs: tuple[Path, Path]) -> None:
    detectors = _registry()
    a, b = (compute_coverage(controls_from_config(p, INDEX), INDEX) for p in configs)

    # The Sigma rule of A blocks model inversion; B has no such rule.
    assert a.of("AML.T0024.001").strength is Strength.BLOCK
    assert b.of("AML.T0024.001").strength is Strength.NONE
    # REVIEW in A constrains extraction; LOG in B only detects it.
    assert a.of("AML.T0024.002").strength is Strength.CONSTRAIN
    assert b.of("AML.T0024.002").strength is Strength.DETECT
    # B blocks jailbreaks with an inline rule; A only has the detector.
    if "jailbreak" in detectors:
        assert a.of("AML.T0054").strength is Strength.DETECT
    assert b.of("AML.T0054").strength is Strength.BLOCK
    # A disabled rule covers nothing.
    assert b.of("AML.T0029").strength is Strength.NONE
    assert [c.name for c in b.disabled if c.kind == "policy"] == ["policy:switched-off"]

    injection = detectors.get("injection")
    if injection is not None:
        others_b = {t for name, info in detectors.items() if name != "injection"
                    for t in info.techniques}
        for tid in injection.techniques:
            assert a.of(tid).strength >= Strength.DETECT
            if tid not in others_b:
                assert b.of(tid).strength is Strength.NONE, tid
        assert "detector:injection" in [c.name for c in b.disabled]
    assert a.detectable() != b.detectable()


def test_a_parent_control_covers_subtechniques_and_a_sub_control_is_partial(
        tmp_path: Path) -> None:
    config = _write(tmp_path / "g.yaml", """\
detectors: {injection: {enabled: false}, jailbreak: false, extraction: false, obfuscation: false,
            secrets: false, pii: false, leakage: false}
policy:
  include_defaults: false
  rules:
    - {id: parent, condition: 'true', action: LOG, atlas: [AML.T0043]}
    - {id: sub, condition: 'true', action: BLOCK, atlas: [AML.T0034.000]}
""")
    cov = compute_coverage(controls_from_config(config, INDEX), INDEX)
    for sub in INDEX.technique("AML.T0043").subtechniques:
        assert cov.of(sub).strength is Strength.DETECT
        assert cov.of(sub).covered
        assert cov.of(sub).controls[0].via == "parent"
    parent = cov.of("AML.T0034")
    assert parent.partial
    assert not parent.covered
    assert parent.strength is Strength.BLOCK
    assert cov.of("AML.T0034.001").strength is Strength.NONE


def test_default_packs_count_unless_excluded(tmp_path: Path) -> None:
    packs = default_pack_files()
    if not packs:
        pytest.skip("this build ships no default policy packs")
    with_defaults = controls_from_config(_write(tmp_path / "d.yaml", "policy: {}\n"), INDEX)
    without = controls_from_config(
        _write(tmp_path / "n.yaml", "policy: {include_defaults: false}\n"), INDEX)
    pack_rules = [c for c in with_defaults.of_kind("policy") if c.source.startswith("defaults/")]
    assert pack_rules
    assert not [c for c in without.of_kind("policy")]
    assert all(":" in c.source for c in pack_rules)  # file:line of each rule


def test_strength_follows_the_action() -> None:
    assert Strength.of_action("BLOCK") is Strength.BLOCK
    assert Strength.of_action("review") is Strength.CONSTRAIN
    assert Strength.of_action("CONSTRAIN") is Strength.CONSTRAIN
    assert Strength.of_action("LOG") is Strength.DETECT
    assert Strength.of_action("ALLOW") is Strength.DETECT


def test_legacy_sigma_tags_and_unknown_ids(tmp_path: Path) -> None:
    _write(tmp_path / "rules" / "legacy.yml", SIGMA_RULE.replace(
        "tags: [atlas.t0024.001]", "tags: [mitre_atlas.model_access]").replace(
        "atlasgate: {action: BLOCK}\n", ""))
    config = _write(tmp_path / "g.yaml", """\
policy:
  include_defaults: false
  rules:
    - {id: typo, condition: 'true', action: LOG, atlas: [AML.T9999]}
sigma: {rules: [rules/, missing/]}
""")
    controls = controls_from_config(config, INDEX)
    sigma = controls.of_kind("sigma")[0]
    assert "AML.TA0000" in sigma.tactics
    assert sigma.strength is Strength.DETECT
    assert any("AML.T9999" in w and "g.yaml:4" in w for w in controls.warnings)
    assert any("missing" in w for w in controls.warnings)


def test_coverage_command_writes_a_layer(configs: tuple[Path, Path], tmp_path: Path) -> None:
    layer_path = tmp_path / "layer.json"
    result = CliRunner().invoke(cli, ["coverage", "--config", str(configs[0]),
                                      "--layer", str(layer_path)])
    assert result.exit_code == 0, result.output
    assert "AML.T0024.001" in result.output
    assert "block" in result.output
    layer = json.loads(layer_path.read_text())
    assert validate_layer(layer, INDEX) == []
    as_json = CliRunner().invoke(cli, ["coverage", "-c", str(configs[1]), "--layer", "-",
                                       "--json"])
    data = json.loads(as_json.output)
    assert data["techniques"]["AML.T0054"]["strength"] == "block"


def test_bad_configuration_gets_file_line_and_no_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", "policy:\n  rules: [\n")
    result = CliRunner().invoke(cli, ["coverage", "--config", str(bad), "--layer", "-"])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output
    assert "Traceback" not in result.output
    shape = _write(tmp_path / "s.yaml", "listen: {port: 1}\npolicy:\n  files: one.yaml\n")
    result = CliRunner().invoke(cli, ["coverage", "--config", str(shape), "--layer", "-"])
    assert result.exit_code == 2
    assert f"{shape}:3: 'policy.files' must be a list" in result.output
    missing_file = _write(tmp_path / "m.yaml", "policy: {files: [nope.yaml]}\n")
    result = CliRunner().invoke(cli, ["coverage", "--config", str(missing_file), "--layer", "-"])
    assert result.exit_code == 2
    assert "nope.yaml: file not found" in result.output


def test_layer_scores_and_colours_follow_strength(configs: tuple[Path, Path]) -> None:
    cov = compute_coverage(controls_from_config(configs[0], INDEX), INDEX)
    layer = coverage_layer(cov, config=str(configs[0]))
    entries = {(e["techniqueID"], e["tactic"]): e for e in layer["techniques"]}
    inversion = entries[("AML.T0024.001", "exfiltration")]
    assert inversion["score"] == 3
    assert "sigma:" in inversion["comment"]
    extraction = entries[("AML.T0024.002", "exfiltration")]
    assert extraction["score"] == 2
    assert "policy:review-bulk" in extraction["comment"]
    assert inversion["color"] != extraction["color"]


def test_every_shipped_detector_and_default_rule_names_real_techniques() -> None:
    controls = controls_from_config(None, INDEX)
    shipped = [c for c in controls.controls if c.kind in ("detector", "policy")]
    assert shipped
    assert [c.name for c in shipped if not c.techniques] == []
    assert controls.warnings == []   # no unknown technique IDs anywhere in what ships
