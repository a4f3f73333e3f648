"""Playbooks: one for every technique the shipped controls detect, completed from the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import TECHNIQUE_ID, load_index
from atlasgate.atlas.playbooks import (
    NoPlaybookError,
    all_playbooks,
    detectable,
    find_playbook,
    playbook_refs,
    render_playbook,
)
from atlasgate.cli.main import cli

INDEX = load_index()
ROOT = Path(__file__).resolve().parent.parent

SIGMA_RULE = """\
title: Systematic predict queries
id: 0b1f0e1e-6c6a-4c9a-9d55-3c2e8f0a7d21
status: experimental
logsource: {category: api_activity, product: atlasgate}
detection:
  sel: {api.method: predict}
  condition: sel
tags: [atlas.t0024.002]
"""


def _shipped_controls_config(tmp_path: Path) -> Path:
    """Every control the product ships: detectors, default packs, and the rules/ pack."""
    config = tmp_path / "gateway.yaml"
    rules = ROOT / "rules"
    config.write_text(f"sigma: {{rules: [{rules}]}}\n" if rules.is_dir() else "{}\n")
    return config


def test_every_technique_the_shipped_controls_detect_has_a_playbook(tmp_path: Path) -> None:
    controls = controls_from_config(_shipped_controls_config(tmp_path), INDEX)
    techniques = detectable(controls, INDEX)
    assert techniques
    missing = [t for t in techniques if not playbook_refs([t], INDEX)]
    assert missing == [], f"write playbooks for {missing} in atlas/playbooks.yaml"


def test_playbook_entries_are_complete_and_name_real_techniques() -> None:
    books = all_playbooks()
    assert len(books) >= 20
    for tid, book in books.items():
        assert TECHNIQUE_ID.match(tid)
        assert INDEX.known(tid), tid
        for part in (book.title, book.signal, book.fields, book.investigate, book.contain,
                     book.remediate, book.notify):
            assert part, (tid, part)
        assert tid in yaml.safe_load(book.policy)[0]["atlas"]


def test_policy_changes_compile_with_the_policy_engine(tmp_path: Path) -> None:
    load = pytest.importorskip("atlasgate.policy.load")
    for tid, book in all_playbooks().items():
        path = tmp_path / f"{tid}.yaml"
        path.write_text(book.policy.replace("KEY_ID", "alice").replace("MODEL", "m")
                        .replace("SUPPLIER", "s"))
        policy = load.load_policy_file(str(path))
        assert len(policy.rules) == 1, tid


def test_subtechniques_fall_back_to_the_parent_and_alerts_get_ids() -> None:
    assert find_playbook("AML.T0069.001", INDEX).technique == "AML.T0069"
    assert find_playbook("PB-AML.T0024.002", INDEX).technique == "AML.T0024.002"
    refs = playbook_refs(["AML.T0024.002", "AML.T0040", "AML.T0000", "AML.T0069.002"], INDEX)
    assert refs == ["PB-AML.T0024.002", "PB-AML.T0040", "PB-AML.T0069"]
    with pytest.raises(NoPlaybookError):
        find_playbook("AML.T0000", INDEX)


def test_rendering_adds_the_configuration_sigma_commands_and_containment(tmp_path: Path) -> None:
    (tmp_path / "sigma").mkdir()
    (tmp_path / "sigma" / "extraction.yml").write_text(SIGMA_RULE)
    config = tmp_path / "gateway.yaml"
    config.write_text("listen: {host: 10.0.0.5, port: 9090}\n"
                      "sigma: {rules: [sigma/]}\n")
    controls = controls_from_config(config, INDEX)
    text = render_playbook(find_playbook("AML.T0024.002", INDEX), "AML.T0024.002", INDEX,
                           controls)
    rule = str(tmp_path / "sigma" / "extraction.yml")
    assert f"atlasgate sigma test {rule} --events decisions.jsonl" in text
    for target in ("splunk", "kusto", "elasticsearch"):
        assert f"atlasgate sigma convert {rule} --target {target}" in text
    assert "`sigma:Systematic predict queries`" in text
    assert "http://10.0.0.5:9090/admin/reload" in text
    assert "atlasgate keys new" in text
    assert f"atlasgate audit --config {config} export -o decisions.jsonl" in text
    assert "AML.M0004" in text
    without = render_playbook(find_playbook("AML.T0054", INDEX), "AML.T0054", INDEX,
                              controls_from_config(None, INDEX))
    assert "No Sigma rule in the configuration is tagged `atlas.t0054`" in without


def test_playbook_command() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["playbook", "AML.T0024.002"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# PB-AML.T0024.002: ")
    listed = runner.invoke(cli, ["playbook", "--list"])
    assert "PB-AML.T0051.000" in listed.output
    assert "NO PLAYBOOK" not in listed.output
    missing = runner.invoke(cli, ["playbook", "AML.T0000"])
    assert missing.exit_code == 2
    assert "no playbook for AML.T0000" in missing.output


def test_playbook_can_carry_the_converted_queries(tmp_path: Path) -> None:
    pytest.importorskip("atlasgate.sigma.convert")
    (tmp_path / "sigma").mkdir()
    rule = tmp_path / "sigma" / "extraction.yml"
    rule.write_text(SIGMA_RULE)
    config = tmp_path / "gateway.yaml"
    config.write_text("sigma: {rules: [sigma/]}\n")
    result = CliRunner().invoke(cli, ["playbook", "AML.T0024.002", "--config", str(config),
                                      "--queries", "sqlite"])
    assert result.exit_code == 0, result.output
    assert "sqlite (extraction.yml):" in result.output
    assert "SELECT" in result.output
    assert "api.method" in result.output
