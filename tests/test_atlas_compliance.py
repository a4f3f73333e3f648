"""Compliance crosswalks: only verified identifiers, every entry reasoned, evidence from config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlasgate.atlas.compliance import (
    UnknownFrameworkError,
    assess,
    framework_names,
    load_framework,
)
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import load_index
from atlasgate.cli.main import cli

INDEX = load_index()

# The identifiers each framework defines, as published (checked against the texts).
NIST_SUBCATEGORIES = {
    "GOVERN": {1: 7, 2: 3, 3: 2, 4: 3, 5: 2, 6: 2},
    "MAP": {1: 6, 2: 3, 3: 5, 4: 2, 5: 2},
    "MEASURE": {1: 3, 2: 13, 3: 3, 4: 3},
    "MANAGE": {1: 4, 2: 4, 3: 2, 4: 3},
}
ISO_42001_ANNEX_A = {
    "A.2.2", "A.2.3", "A.2.4", "A.3.2", "A.3.3", "A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.4.6",
    "A.5.2", "A.5.3", "A.5.4", "A.5.5", "A.6.1.2", "A.6.1.3", "A.6.2.2", "A.6.2.3", "A.6.2.4",
    "A.6.2.5", "A.6.2.6", "A.6.2.7", "A.6.2.8", "A.7.2", "A.7.3", "A.7.4", "A.7.5", "A.7.6",
    "A.8.2", "A.8.3", "A.8.4", "A.8.5", "A.9.2", "A.9.3", "A.9.4", "A.10.2", "A.10.3", "A.10.4",
}
OWASP_LLM_2025 = {
    "LLM01:2025": "Prompt Injection",
    "LLM02:2025": "Sensitive Information Disclosure",
    "LLM03:2025": "Supply Chain",
    "LLM04:2025": "Data and Model Poisoning",
    "LLM05:2025": "Improper Output Handling",
    "LLM06:2025": "Excessive Agency",
    "LLM07:2025": "System Prompt Leakage",
    "LLM08:2025": "Vector and Embedding Weaknesses",
    "LLM09:2025": "Misinformation",
    "LLM10:2025": "Unbounded Consumption",
}
EU_AI_ACT = {"Article 9(1)", "Article 9(2)(a)", "Article 9(2)(d)", "Article 12(1)",
             "Article 12(2)", "Article 14(1)", "Article 14(4)(d)", "Article 14(4)(e)",
             "Article 15(1)", "Article 15(5)"}


def _nist_ok(rid: str) -> bool:
    m = re.fullmatch(r"(GOVERN|MAP|MEASURE|MANAGE) (\d+)\.(\d+)", rid)
    return bool(m) and 1 <= int(m[3]) <= NIST_SUBCATEGORIES[m[1]].get(int(m[2]), 0)


def test_all_four_frameworks_ship() -> None:
    assert framework_names() == ["eu-ai-act", "iso-42001", "nist-ai-rmf", "owasp-llm-2025"]
    with pytest.raises(UnknownFrameworkError):
        load_framework("sox")
    assert load_framework("NIST").key == "nist-ai-rmf"


def test_identifiers_are_the_published_ones() -> None:
    nist = load_framework("nist-ai-rmf")
    assert all(_nist_ok(r.id) for r in nist.requirements), [r.id for r in nist.requirements]
    assert {r.id.split()[0] for r in nist.requirements} == set(NIST_SUBCATEGORIES)
    iso = load_framework("iso-42001")
    assert {r.id for r in iso.requirements} <= ISO_42001_ANNEX_A
    owasp = load_framework("owasp-llm-2025")
    assert {r.id: r.title for r in owasp.requirements} == OWASP_LLM_2025
    eu = load_framework("eu-ai-act")
    assert {r.id for r in eu.requirements} <= EU_AI_ACT
    assert {re.match(r"Article (\d+)", r.id)[1] for r in eu.requirements} == {"9", "12", "14",
                                                                               "15"}


def test_every_entry_is_reasoned_and_names_real_techniques() -> None:
    for name in framework_names():
        framework = load_framework(name)
        ids = [r.id for r in framework.requirements]
        assert len(ids) == len(set(ids)), name
        for requirement in framework.requirements:
            assert len(requirement.reasoning) > 40, (name, requirement.id)
            for check in requirement.checks:
                for tid in check.get("techniques", ()):
                    assert INDEX.known(tid), (name, requirement.id, tid)


def test_evidence_follows_the_configuration(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("policy: {include_defaults: false}\n"
                    "detectors: {injection: false, jailbreak: false, extraction: false,\n"
                    "            obfuscation: false, secrets: false, pii: false, leakage: false}\n")
    rich = tmp_path / "rich.yaml"
    rich.write_text("""\
policy:
  include_defaults: false
  rules:
    - {id: hold, condition: 'ml.instance_count > 500', action: REVIEW, atlas: [AML.T0024.002]}
    - {id: stop, condition: 'detection.injection.count > 0', action: BLOCK,
       atlas: [AML.T0051.000, AML.T0051.001]}
""")
    eu = load_framework("eu-ai-act")
    results = {p.name: {r.requirement.id: r for r in assess(eu, controls_from_config(p, INDEX),
                                                            INDEX)}
               for p in (bare, rich)}
    assert results["bare.yaml"]["Article 14(1)"].status == "partial"   # log, but no REVIEW
    assert results["rich.yaml"]["Article 14(1)"].status == "evidence"
    assert results["bare.yaml"]["Article 14(4)(e)"].status == "no evidence"
    assert results["rich.yaml"]["Article 14(4)(e)"].status == "evidence"
    assert results["bare.yaml"]["Article 12(1)"].status == "evidence"
    art15 = results["rich.yaml"]["Article 15(5)"]
    met = {c.label: c.met for c in art15.checks}
    assert met["prompt manipulation"]
    assert not met["data poisoning"]
    assert art15.status == "partial"
    owasp = load_framework("owasp-llm-2025")
    misinformation = next(r for r in assess(owasp, controls_from_config(rich, INDEX), INDEX)
                          if r.requirement.id == "LLM09:2025")
    assert misinformation.status == "organisational"


def test_threat_model_counts_as_evidence_when_given() -> None:
    nist = load_framework("nist-ai-rmf")
    controls = controls_from_config(None, INDEX)
    without = {r.requirement.id: r.status for r in assess(nist, controls, INDEX)}
    with_assets = {r.requirement.id: r.status
                   for r in assess(nist, controls, INDEX, assets="examples/assets.yaml")}
    assert without["MAP 5.1"] == "no evidence"
    assert with_assets["MAP 5.1"] == "evidence"


def test_compliance_command(tmp_path: Path) -> None:
    runner = CliRunner()
    text = runner.invoke(cli, ["compliance", "--framework", "owasp-llm-2025"])
    assert text.exit_code == 0, text.output
    assert "LLM01:2025  Prompt Injection" in text.output
    data = json.loads(runner.invoke(cli, ["compliance", "-f", "iso-42001", "--json"]).output)
    event_logs = next(r for r in data["requirements"] if r["id"] == "A.6.2.8")
    assert event_logs["status"] == "evidence"
    assert event_logs["reasoning"]
    bad = runner.invoke(cli, ["compliance", "-f", "nope"])
    assert bad.exit_code == 2
    assert "unknown framework 'nope'" in bad.output
