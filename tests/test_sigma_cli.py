"""``atlasgate sigma test|lint|convert`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlasgate.cli.main import cli
from atlasgate.sigma.convert import converter_env

ARTICLE = str(Path(__file__).parent / "fixtures" / "sigma" / "article_rule.yml")
RULES = str(Path(__file__).resolve().parent.parent / "rules")


def invoke(*args: str):
    return CliRunner().invoke(cli, ["sigma", *args])


def test_lint_reports_liberties_and_prints_the_standard_rewrite():
    result = invoke("lint", ARTICLE)
    assert result.exit_code == 0, result.output
    assert f"{ARTICLE}:12: warning: '>50' read as a numeric comparison" in result.output
    assert "# Standard Sigma v2 form" in result.output
    assert "api.request_count|gt: 50" in result.output
    assert "type: event_count" in result.output


def test_lint_fails_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\nlogsource: {product: atlasgate}\ndetection:\n  s:\n"
                   "    a|bogus: 1\n  condition: s\n")
    result = invoke("lint", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:5: error: Unknown modifier 'bogus'" in result.output


def test_test_command_prints_matches_and_counts(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [
        {"event": {"id": "a"}, "api": {"method": "predict", "endpoint": "/v1/models/m:predict",
                                        "request_count_5m": 80, "request_rate_5m": 7,
                                        "input_similarity_score": 0.9}},
        {"event": {"id": "b"}, "api": {"method": "predict", "endpoint": "/v1/models/m:predict",
                                        "request_count_5m": 2, "request_rate_5m": 0.1}},
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = invoke("test", ARTICLE, "--events", str(events))
    assert result.exit_code == 0, result.output
    assert "ai-model-extraction-detection" in result.output
    assert "events=a" in result.output
    assert "2 events, 1 matches" in result.output

    as_json = invoke("test", ARTICLE, "--events", str(events), "--json")
    (record,) = [json.loads(line) for line in as_json.output.splitlines()]
    assert record["rule.id"] == "ai-model-extraction-detection"
    assert record["sigma.matched_event_ids"] == ["a"]


def test_test_command_exits_non_zero_on_load_errors_and_bad_lines(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\ndetection: {condition: s}\n")
    events = tmp_path / "e.jsonl"
    events.write_text('{"api.method": "chat"}\nnot json\n')
    assert invoke("test", str(bad), "--events", str(events)).exit_code == 2
    result = invoke("test", ARTICLE, "--events", str(events))
    assert result.exit_code == 3
    assert f"{events}:2: invalid JSON" in result.output


def test_convert_to_sqlite_runs_in_process():
    result = invoke("convert", ARTICLE, "--target", "sqlite")
    assert result.exit_code == 0, result.output
    assert "`api.request_count` > 50" in result.output


def test_convert_whole_pack_to_sqlite_converts_correlations_too():
    result = invoke("convert", RULES, "--target", "sqlite")
    assert result.exit_code == 0, result.output
    assert result.output.count("SELECT") >= 18


@pytest.mark.skipif(not (converter_env() / "bin" / "python").exists(),
                    reason="SIEM converters not installed: atlasgate sigma setup-converters")
@pytest.mark.parametrize(("target", "expected"), [
    ("splunk", 'api.method="predict"'),
    ("elasticsearch", "api.method:predict"),
    ("kusto", "'api.method' =~ \"predict\""),
])
def test_convert_to_siem_targets(target: str, expected: str):
    result = invoke("convert", ARTICLE, "--target", target)
    assert result.exit_code == 0, result.output
    assert expected in result.output
    assert "50" in result.output


def test_convert_reports_a_missing_converter_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLASGATE_SIGMA_CONVERTERS", str(tmp_path / "none"))
    result = invoke("convert", ARTICLE, "--target", "splunk")
    assert result.exit_code == 2
    assert "atlasgate sigma setup-converters" in result.output


def test_test_command_reads_the_decision_log_export(tmp_path):
    request = {"event.id": "d1", "api.method": "predict",
               "api.endpoint": "/v1/models/m:predict", "api.request_count_5m": 250,
               "api.request_rate_5m": 30.0, "decision.action": "ALLOW"}
    entries = [
        {"logged_at": "2026-11-25T10:00:00Z", "prev": "00", "seq": 0,
         "record": {"decision_id": "d1", "event": request, "decision": {"action": "ALLOW"}}},
        {"logged_at": "2026-11-25T10:00:01Z", "prev": "01", "seq": 1,
         "record": {"kind": "alert", "decision_id": "d1",
                    "alert": {"event.kind": "alert", "rule.id": "x"}}},
    ]
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    result = invoke("test", ARTICLE, "--events", str(export))
    assert result.exit_code == 0, result.output
    assert "events=d1" in result.output
    assert "2 events, 1 matches" in result.output
