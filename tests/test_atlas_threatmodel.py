"""Threat model: applicable techniques with reasons, controls, ranked gaps, four outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlasgate.atlas.assets import load_assets, parse_assets
from atlasgate.atlas.controls import Strength, controls_from_config
from atlasgate.atlas.index import load_index
from atlasgate.atlas.navigator import threatmodel_layer, validate_layer
from atlasgate.atlas.report_md import render_markdown
from atlasgate.atlas.threatmodel import IMPACT, build_threat_model, shipped_rules
from atlasgate.atlas.yamlfile import parse_yaml
from atlasgate.cli.main import cli
from atlasgate.errors import ConfigError

INDEX = load_index()
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "assets.yaml"

BLOCK_EXTRACTION = """\
policy:
  include_defaults: false
  rules:
    - {id: stop-extraction, condition: 'api.request_count > 200', action: BLOCK,
       atlas: [AML.T0024.002]}
"""


def _model(text: str, config: Path | None = None):
    assets = parse_assets(parse_yaml(text, "assets.yaml"), INDEX)
    return build_threat_model(assets, controls_from_config(config, INDEX), INDEX)


def test_applicability_follows_kind_access_and_sensitivity() -> None:
    model = _model("""\
assets:
  - {id: scores, kind: classifier_api, exposure: public, access: scores,
     data_sensitivity: restricted}
  - {id: labels, kind: classifier_api, exposure: public, access: labels,
     data_sensitivity: public}
  - {id: data, kind: training_dataset, exposure: internal}
""")
    by_asset = {a.asset.id: {t.technique.id: t for t in a.threats} for a in model.assets}
    assert "AML.T0024.001" in by_asset["scores"]          # inversion needs scores
    assert "AML.T0024.001" not in by_asset["labels"]
    assert "AML.T0024.000" in by_asset["scores"]          # membership: non-public training data
    assert "AML.T0024.000" not in by_asset["labels"]
    assert "AML.T0024.002" in by_asset["labels"]          # extraction works on labels too
    assert "AML.T0020" in by_asset["data"]
    assert "AML.T0024.002" not in by_asset["data"]
    membership = by_asset["scores"]["AML.T0024.000"]
    assert membership.impact == IMPACT["critical"]        # restricted data raises impact
    assert membership.reasons[0][0] == "membership-inference"
    assert "training" in membership.reasons[0][1]


def test_gateway_controls_count_only_for_assets_behind_it(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(BLOCK_EXTRACTION)
    model = _model("""\
assets:
  - {id: front, kind: classifier_api, exposure: partner, access: scores}
  - {id: side, kind: classifier_api, exposure: partner, access: scores, behind_gateway: false}
""", config)
    front, side = ({t.technique.id: t for t in a.threats} for a in model.assets)
    assert front["AML.T0024.002"].strength is Strength.BLOCK
    assert front["AML.T0024.002"].controls[0].control.name == "policy:stop-extraction"
    assert side["AML.T0024.002"].is_gap


def test_external_controls_cover_and_bad_ones_are_reported_with_line() -> None:
    model = _model("""\
assets:
  - id: bot
    kind: llm_chat_api
    exposure: public
    behind_gateway: false
    controls:
      - {name: CDN rate limit, techniques: [AML.T0029], strength: constrain}
""")
    threat = next(t for t in model.assets[0].threats if t.technique.id == "AML.T0029")
    assert threat.status == "constrain"
    assert threat.controls[0].control.kind == "external"
    with pytest.raises(ConfigError) as err:
        parse_assets(parse_yaml("""\
assets:
  - id: bot
    kind: llm_chat_api
    controls:
      - {name: WAF, techniques: [AML.T0029, T9999]}
""", "assets.yaml"), INDEX)
    assert str(err.value).startswith("assets.yaml:5:")
    with pytest.raises(ConfigError, match=r"assets.yaml:3: kind 'toaster'"):
        parse_assets(parse_yaml("assets:\n  - id: x\n    kind: toaster\n", "assets.yaml"), INDEX)


def test_gaps_are_ranked_by_impact_times_likelihood() -> None:
    model = build_threat_model(load_assets(EXAMPLE, INDEX), controls_from_config(None, INDEX),
                               INDEX)
    ranked = model.ranked_gaps()
    assert ranked
    risks = [t.risk for _, t in ranked]
    assert risks == sorted(risks, reverse=True)
    for _asset, threat in ranked:
        assert threat.is_gap
        assert threat.risk == round(threat.impact * threat.likelihood, 2)
        assert 1 <= threat.likelihood <= 5
    # A public asset gets a higher likelihood than an internal one for the same technique.
    public = _model("assets:\n  - {id: a, kind: classifier_api, exposure: public}\n")
    internal = _model("assets:\n  - {id: a, kind: classifier_api, exposure: internal}\n")
    pub, inner = ({t.technique.id: t.likelihood for t in m.assets[0].threats}
                  for m in (public, internal))
    assert pub["AML.T0015"] > inner["AML.T0015"]


def test_example_assets_cover_every_kind_and_the_rules_are_valid() -> None:
    assets = load_assets(EXAMPLE, INDEX)
    assert {a.kind for a in assets.assets} == {
        "llm_chat_api", "classifier_api", "embedding_api", "rag_index", "agent",
        "training_dataset", "finetuning_pipeline", "model_registry"}
    rules = shipped_rules(INDEX)
    assert len({r.id for r in rules}) == len(rules)
    assert all(r.reason for r in rules)
    kinds = {k for r in rules for k in r.kinds}
    assert kinds == {"llm_chat_api", "classifier_api", "embedding_api", "training_dataset",
                     "finetuning_pipeline", "rag_index", "model_registry", "agent"}


def test_command_writes_html_markdown_json_and_layer(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(BLOCK_EXTRACTION)
    outs = [tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.json"]
    layer = tmp_path / "layer.json"
    args = ["threatmodel", str(EXAMPLE), "--config", str(config), "--layer", str(layer)]
    for out in outs:
        args += ["--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    html = outs[0].read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert 'id="matrix"' in html
    assert "Northwind" in html
    assert "AML.T0024.002" in html
    data = json.loads(outs[2].read_text())
    fraud = next(a for a in data["assets"] if a["id"] == "fraud-scorer")
    extraction = next(t for t in fraud["threats"] if t["technique"] == "AML.T0024.002")
    assert extraction["coverage"] == "block"
    assert extraction["why"][0]["reason"]
    assert "AML.T0024.002" not in fraud["gaps"]
    assert data["ranked_gaps"][0]["risk"] >= data["ranked_gaps"][-1]["risk"]
    assert validate_layer(json.loads(layer.read_text()), INDEX) == []
    md = outs[1].read_text()
    assert md.startswith("# Threat model: Northwind")
    assert "## Top gaps" in md


def test_layer_and_markdown_from_the_model() -> None:
    model = build_threat_model(load_assets(EXAMPLE, INDEX), controls_from_config(None, INDEX),
                               INDEX)
    layer = threatmodel_layer(model)
    marked = {e["techniqueID"] for e in layer["techniques"] if e.get("enabled")}
    assert marked == set(model.technique_status())
    assert "Why these apply" in render_markdown(model)


def test_bad_assets_file_gets_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "assets.yaml"
    bad.write_text("assets:\n  - id: a\n    kind: agent\n    exposure: galactic\n")
    result = CliRunner().invoke(cli, ["threatmodel", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: exposure 'galactic'" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["threatmodel", str(EXAMPLE), "--out", "x.pdf"])
    assert result.exit_code == 2


def test_full_atlas_data_adds_case_studies_to_the_gaps(tmp_path: Path) -> None:
    from test_atlas_index import real_atlas_path

    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["threatmodel", str(EXAMPLE), "--out", str(out),
                                      "--atlas-data", str(real_atlas_path())])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<th>ATLAS case studies</th>" in html
    assert "AML.CS00" in html


def test_mitigations_the_gateway_puts_in_place_follow_the_config(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("policy: {include_defaults: false}\n"
                     "detectors: {injection: false, jailbreak: false, leakage: false}\n")
    fuller = tmp_path / "fuller.yaml"
    fuller.write_text("""\
keys:
  - {id: alice, hash: "sha256:00", tenant: acme}
policy:
  include_defaults: false
  rules:
    - {id: top1, condition: 'api.request_count > 200', action: CONSTRAIN,
       constraint: {top1: true}, atlas: [AML.T0024.002]}
    - {id: hold-tools, condition: 'detection.injection.indirect', action: REVIEW,
       atlas: [AML.T0053]}
""")
    text = "assets:\n  - {id: a, kind: classifier_api, exposure: public}\n"
    few = _model(text, plain).in_place
    many = _model(text, fuller).in_place
    assert set(few) == {"AML.M0024"}                 # the decision log is always written
    assert {"AML.M0024", "AML.M0019", "AML.M0002", "AML.M0029"} <= set(many)
    assert "policy:top1" in many["AML.M0002"]
    extraction = next(t for t in _model(text, fuller).as_dict()["assets"][0]["threats"]
                      if t["technique"] == "AML.T0024.002")
    marks = {m["id"]: m["in_place"] for m in extraction["mitigations"]}
    assert marks["AML.M0002"]
    assert marks["AML.M0004"] is None
